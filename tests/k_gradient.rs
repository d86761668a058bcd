//! The gradient of the LM coefficients k_n, checked by central finite differences in f64.
//! (Its own test binary: the f64 device setting and the RNG seed are process-wide.)

mod common;
use common::tiny_lm;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::FloatDType;
use odenet::params;
use odenet::scheme::Scheme;


/// A smooth scalar function of the network output, so finite differences are well behaved.
fn objective(net: &odenet::Net, x: Tensor<4>) -> Tensor<1> {
    let y = net.forward(x);
    (y.clone() * y).sum()
}

#[test]
fn gradient_of_every_k_matches_finite_differences() {
    let mut plain = Device::flex();
    plain.configure(FloatDType::F64).expect("flex computes in f64");
    let d = plain.autodiff();
    d.seed(3);
    let net = tiny_lm(&d);
    assert_eq!(params::count_trainable(&net) - params::count_trainable(&{
        let mut plain = net.clone();
        for s in &mut plain.stages { s.scheme = Scheme::euler(); }
        plain
    }), 4, "two LM steps in each of two stages");
    let x = Tensor::<4>::random([16, 1, 8, 8], burn::tensor::Distribution::Normal(0.0, 1.0), &d);
    assert_eq!(x.dtype(), burn::tensor::DType::F64);
    let grads = objective(&net, x.clone()).backward();
    for s in 0..net.stages.len() {
        let k = net.stages[s].scheme.lm_k().cloned().expect("k");
        let analytic: Vec<f64> = k.val().grad(&grads).expect("k has a gradient").into_data().try_to_vec::<f64>().expect("f64");
        let base: Vec<f64> = k.val().into_data().try_to_vec::<f64>().expect("f64");
        for (n, &g) in analytic.iter().enumerate() {
            // Small enough to stay between ReLU kinks, large enough for f64.
            let eps = 1e-5f64;
            let shifted = |delta: f64| {
                let mut v = base.clone();
                v[n] += delta;
                let mut probe = net.clone();
                let t = Tensor::<2>::from_data(TensorData::new(v, k.dims()), &d);
                probe.stages[s].scheme = Scheme::from_lm_k(Param::from_tensor(t));
                objective(&probe, x.clone()).into_scalar::<f64>()
            };
            let numeric = (shifted(eps) - shifted(-eps)) / (2.0 * eps);
            let scale = g.abs().max(numeric.abs()).max(1e-3);
            assert!(
                (g - numeric).abs() / scale < 1e-4,
                "stage {s} step {}: autodiff {g} vs finite difference {numeric}",
                n + 1
            );
        }
    }
}

