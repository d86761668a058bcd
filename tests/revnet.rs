//! RevNet as coupled forward Euler: the update by hand, and exact reconstruction of a stage's
//! states from its output.

use burn::prelude::*;
use odenet::scheme::coupled::{coupled_inverse, coupled_step};
use odenet::zoo;

fn vals(x: Tensor<4>) -> Vec<f32> {
    x.into_data().try_to_vec::<f32>().expect("f32")
}

#[test]
fn coupled_step_by_hand_and_inverse() {
    let d = Device::flex();
    // u = [x, y] with x = 1, y = 2; F(y) = 3y, G(x) = −x: x' = 1 + 6 = 7, y' = 2 − 7 = −5.
    let u = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 2.0], [1, 2, 1, 1]), &d);
    let f = |y: Tensor<4>| y.mul_scalar(3.0);
    let g = |x: Tensor<4>| x.neg();
    let next = coupled_step(u, f, g);
    assert_eq!(vals(next.clone()), vec![7.0, -5.0]);
    assert_eq!(vals(coupled_inverse(next, f, g)), vec![1.0, 2.0]);
}

#[test]
fn revnet_stages_reconstruct_their_states_from_the_output() {
    let d = Device::flex();
    let net = zoo::create("revnet20", 3, 10).expect("registered").init(&d).valid();
    let mut u = net.stem.forward(Tensor::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &d));
    for (s, stage) in net.stages.iter().enumerate() {
        // The state after the stage's first (non-reversible) step, computed forwards …
        let shortcut = match &stage.projection {
            Some(p) => p.forward(u.clone()),
            None => u.clone(),
        };
        let after_first = shortcut + stage.branches[0].forward(u.clone());
        let out = stage.forward(u);
        // … and reconstructed backwards through every coupled step.
        let back = stage.invert_coupled_steps(out.clone()).expect("a coupled stage");
        let (want, got) = (vals(after_first), vals(back));
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let err = want.iter().zip(&got).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(err <= 1e-5 * scale.max(1.0), "stage {s}: max error {err} (scale {scale})");
        u = out;
    }
    // A non-coupled stage is not invertible this way.
    let resnet = zoo::create("resnet20", 3, 10).expect("registered").init(&d);
    assert!(resnet.stages[0].invert_coupled_steps(Tensor::zeros([1, 16, 4, 4], &d)).is_none());
}
