//! bf16 mixed precision (`odenet::precision`): every registered model's features and gradients
//! in bf16 follow f32 as closely as f32 follows itself under bf16-sized input noise, the
//! parameters and logits stay f32 with every stochastic term, and a short training run learns as
//! well as in f32.

mod common;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::{DType, Distribution};
use common::*;
use odenet::precision::Precision;
use odenet::train::{FitOptions, fit};
use odenet::{NetConfig, zoo};

/// A registered model with at most 3 blocks per stage (enough for every rule to reach its
/// general step: the two-step and three-step rules start at blocks 1 and 2).
fn shortened(name: &str) -> NetConfig {
    let config = zoo::create(name, 1, 3).expect("registered");
    NetConfig { depths: config.depths.iter().map(|&d| d.min(3)).collect(), ..config }
}

/// Relative L2 distance ‖a − b‖ / ‖b‖ (0 when both vanish).
fn rel_l2(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let diff: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt();
    let norm: f32 = b.iter().map(|y| y * y).sum::<f32>().sqrt();
    if norm == 0.0 { diff } else { diff / norm }
}

/// One training-mode step of `net` on `x` with the activations in `precision`, the device
/// reseeded: the features before the head (as f32), the logits' dtype and every parameter
/// gradient (the loss: a fixed weighting of the logits).
fn step(net: &odenet::Net, x: Tensor<4>, precision: Precision) -> (Vec<f32>, DType, Vec<Vec<f32>>) {
    x.device().seed(11); // shake-shake draws the same η in both precisions
    let features = net.forward_features(precision.activations(x));
    let values = features.clone().cast(DType::F32).into_data().try_to_vec::<f32>().expect("f32");
    let logits = net.forward_head(features);
    let dtype = logits.dtype();
    let [batch, classes] = logits.dims();
    let weights: Vec<f32> = (0..batch * classes).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
    let weights = Tensor::<2>::from_data(TensorData::new(weights, [batch, classes]), &logits.device());
    let grads = (logits * weights).sum().backward();
    (values, dtype, param_grads(net, &grads))
}

/// All gradients of a step as one vector.
fn flat(grads: &[Vec<f32>]) -> Vec<f32> {
    grads.iter().flatten().copied().collect()
}

#[test]
fn every_registered_model_in_bf16_follows_f32() {
    // At initialisation these nets amplify small perturbations: relative input noise of 0.4 %
    // (bf16 keeps 8 significant bits) grows by about 2× per stage in f32 alone and moves the
    // parameter gradients by 20-70 % (batch norm in training mode over a small batch, ReLU
    // masks). So bf16's features (before the head) and gradients are compared with f32's own
    // spread under that noise. A parameter or a drawn tensor meeting
    // an activation in the wrong dtype reads its bytes as another type: errors of order 1 or
    // non-finite values, caught by every bound below.
    let device = Device::flex().autodiff();
    let mut worst = (0.0f32, 0.0f32, String::new());
    for entry in zoo::models() {
        let config = shortened(entry.name);
        let name = entry.name;
        device.seed(7);
        let net = config.init(&device);
        // The ImageNet stem divides the side by 4 and its stages by 8 more: 64 px leave 2 × 2.
        let side = if config.stem == odenet::net::StemKind::ImageNet { 64 } else { 16 };
        let x = Tensor::<4>::random([4, 1, side, side], Distribution::Normal(0.0, 1.0), &device);
        // Copies through a record: a clone would share the batch-norm running statistics.
        let copy = || config.init(&device).load_record(net.clone().into_record());
        let (features32, _, grads32) = step(&copy(), x.clone(), Precision::F32);
        let noise = Tensor::random(x.shape(), Distribution::Normal(0.0, 4e-3), &device);
        let (features_noisy, _, grads_noisy) = step(&copy(), x.clone() + noise, Precision::F32);
        let (features16, dtype, grads16) = step(&copy(), x, Precision::Bf16);

        assert_eq!(dtype, DType::F32, "{name}: the classifier and the logits stay f32");
        assert_eq!(grads16.len(), grads32.len(), "{name}: every parameter gets a gradient in bf16");
        let (feature_err, feature_spread) =
            (rel_l2(&features16, &features32), rel_l2(&features_noisy, &features32));
        assert!(
            feature_err <= (3.0 * feature_spread).max(0.05),
            "{name}: bf16 features {feature_err:.4} from f32, f32 under 0.4 % input noise {feature_spread:.4}"
        );
        // Per tensor no bound but finiteness: a single tensor's gradient (a BN shift whose terms
        // nearly cancel, say) may move by more than its norm under input noise alone in f32.
        for (i, g) in grads16.iter().enumerate() {
            assert!(g.iter().all(|v| v.is_finite()), "{name}: gradient {i} in bf16 is not finite");
        }
        let (g32, g16) = (flat(&grads32), flat(&grads16));
        let grad_err = rel_l2(&g16, &g32);
        let spread = rel_l2(&flat(&grads_noisy), &g32);
        assert!(
            grad_err <= (2.0 * spread).max(0.1),
            "{name}: bf16 gradients {grad_err:.4} from f32, f32 under 0.4 % input noise {spread:.4}"
        );
        eprintln!(
            "{name}: bf16 features {feature_err:.4}, gradients {grad_err:.4} from f32; f32 under noise {feature_spread:.4}, {spread:.4}"
        );
        if grad_err / spread.max(1e-6) > worst.1 / worst.0.max(1e-6) {
            worst = (spread, grad_err, name.to_string());
        }
    }
    eprintln!("largest bf16 / noise ratio of the whole gradient: {} (bf16 {:.4}, f32 under noise {:.4})", worst.2, worst.1, worst.0);
}

#[test]
fn the_parameters_stay_f32_in_bf16_training_with_every_stochastic_term() {
    use odenet::scheme::noise::{DropScaling, NoiseConfig, SurvivalIndexing};
    let device = Device::flex().autodiff();
    let noises = [
        NoiseConfig::None,
        NoiseConfig::Gaussian { sigma: 0.01 },
        NoiseConfig::Uniform { sigma: 0.01 },
        NoiseConfig::StochasticDepth { p_last: 0.5, scaling: DropScaling::Inverted, indexing: SurvivalIndexing::Huang },
    ];
    for noise in noises {
        let config = odenet::NetConfig { noise: noise.clone(), ..tiny_config("tiny-lm", odenet::SchemeConfig::lm_paper()) };
        let net = config.init(&device);
        let x = Tensor::<4>::random([2, 1, 8, 8], Distribution::Default, &device);
        let loss = net.forward(Precision::Bf16.activations(x)).sum();
        assert!(loss.clone().into_scalar::<f32>().is_finite(), "{noise:?}");
        let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &net);
        let trainable = odenet::params::inventory(&net).iter().filter(|t| t.trainable).count();
        assert!(grads.len() <= trainable && !grads.is_empty(), "{noise:?}");
        struct Dtypes(Vec<DType>);
        impl burn::module::ModuleVisitor for Dtypes {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
                self.0.push(param.val().dtype());
            }
        }
        let mut dtypes = Dtypes(Vec::new());
        net.visit(&mut dtypes);
        assert!(dtypes.0.iter().all(|d| *d == DType::F32), "{noise:?}: {:?}", dtypes.0);
    }
}

#[test]
fn bf16_training_learns_fashion_mnist_as_well_as_f32() {
    // 5,000 training images, 2 epochs, the same seed: bf16 must land within 5 points of f32 (runs
    // of this size differ by a few points between seeds).
    let mut accuracy = Vec::new();
    for precision in [Precision::F32, Precision::Bf16] {
        let mut config = config(small_lm(1, 8), fashion(Some(500), Some(100)), 2, 64);
        config.precision = precision;
        let dir = run_dir(&format!("fmnist-{}", precision.name()));
        let summary = fit(&config, &dir, &FitOptions::default()).expect("training runs");
        let saved = std::fs::read_to_string(dir.join("config.json")).expect("config.json");
        assert!(saved.contains(&format!("\"precision\": \"{}\"", precision.name())), "{saved}");
        eprintln!("{}: test accuracy {:.4}", precision.name(), summary.final_test_acc);
        accuracy.push(summary.final_test_acc);
    }
    assert!(accuracy[0] > 0.7, "f32 accuracy {:.4}", accuracy[0]);
    assert!(accuracy[1] > accuracy[0] - 0.05, "bf16 {:.4} vs f32 {:.4}", accuracy[1], accuracy[0]);
}
