//! A whole training step (forward, cross-entropy, backward) of an f32 LM-ResNet with the fast
//! (oneDNN) kernels against the same step with `--kernels flex`: logits, loss and every
//! parameter's gradient to 1e-4 relative; then the inference forward (running statistics,
//! activations channels-last between the fast convolutions) against flex's. (Its own test binary: the kernel choice is
//! process-wide.) Needs oneDNN (`apt-get install libdnnl-dev`).

mod common;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use odenet::kernels::{self, Kernels};

/// Logits, loss and parameter gradients of one step with the given kernels.
fn step(kernels: Kernels) -> (Vec<f32>, f32, Vec<Vec<f32>>, Vec<f32>) {
    assert_eq!(kernels::set_kernels(kernels), kernels, "oneDNN must be installed for this test");
    let device = Device::flex().autodiff();
    device.seed(5);
    // Stride-2 stage transitions with 1×1 projections, odd input size, batch 3.
    let net = common::small_lm(3, 8).init(&device);
    let x = Tensor::<4>::random([3, 3, 15, 15], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 7, 4], [3]), &device);
    let logits = net.forward(x);
    let loss = CrossEntropyLossConfig::new().init(&device).forward(logits.clone(), y);
    let loss_value = loss.clone().into_scalar::<f32>();
    let grads = loss.backward();
    let grads = common::param_grads(&net, &grads);
    // Inference after the step (updated running statistics), on the plain device.
    let x = Tensor::<4>::random([2, 3, 15, 15], Distribution::Normal(0.0, 1.0), &device).inner();
    let eval = net.valid().forward(x).into_data().try_to_vec::<f32>().expect("f32");
    (logits.into_data().try_to_vec::<f32>().expect("f32"), loss_value, grads, eval)
}

#[test]
fn a_training_step_and_inference_with_fast_kernels_match_flex() {
    let (logits_f, loss_f, grads_f, eval_f) = step(Kernels::Fast);
    let (logits_r, loss_r, grads_r, eval_r) = step(Kernels::Flex);
    let e = common::rel_err(&eval_f, &eval_r);
    assert!(e < 1e-4, "inference logits: relative error {e:e}");
    assert!(common::rel_err(&logits_f, &logits_r) < 1e-4, "logits {:e}", common::rel_err(&logits_f, &logits_r));
    assert!((loss_f - loss_r).abs() <= 1e-4 * loss_r.abs(), "loss {loss_f} vs {loss_r}");
    assert_eq!(grads_f.len(), grads_r.len());
    assert!(grads_f.len() > 20, "every conv, BN and k_n has a gradient: {}", grads_f.len());
    for (i, (a, b)) in grads_f.iter().zip(&grads_r).enumerate() {
        let e = common::rel_err(a, b);
        assert!(e < 1e-4, "gradient of parameter {i} ({} values): relative error {e:e}", b.len());
    }
    assert_eq!(kernels::fallbacks(), 0);
}
