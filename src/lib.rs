//! # odenet — deep networks as numerical schemes for differential equations
//!
//! Lu, Zhong, Li, Dong, *Beyond Finite Layer Neural Networks: Bridging Deep Architectures and
//! Numerical Differential Equations*, ICML 2018 (arXiv 1710.10121).
//!
//! | network   | update                                              | scheme            |
//! |-----------|-----------------------------------------------------|-------------------|
//! | ResNet    | u_{n+1} = u_n + f(u_n)                              | forward Euler     |
//! | LM-ResNet | u_{n+1} = (1 − k_n) u_n + k_n u_{n−1} + f(u_n)      | linear two-step   |
//! | any       | u_{n+1} = Σ_j a_j u_{n−j} + Σ_j b_j f(u_{n−j})      | linear multistep  |
//! | any       | u_{n+1} = u_n + Σ_i b_i k_i, k_i = f(u_n + Σ a_ij k_j) | explicit RK    |
//!
//! A scheme is data: [`scheme::Multistep`] coefficients and [`scheme::Tableau`]s are validated
//! when built and analysed by [`scheme::stability`] (consistency, zero-stability, order).
//!
//! Layout: [`nn`] holds residual branches f (they never add a skip), [`scheme`] the stepping
//! rules, [`stage`] one integration interval, [`net`] the network, [`zoo`] the registry of named
//! models, [`data`] the datasets, [`train`] the trainer.

pub mod analysis;
pub mod bench;
pub mod config_error;
pub mod data;
pub mod interchange;
pub mod kernels;
pub mod net;
pub mod nn;
pub mod params;
pub mod precision;
pub mod report;
pub mod reproduce;
pub mod reversible;
pub mod scheme;
pub mod stage;
pub mod train;
pub mod validate;
pub mod zoo;

pub use net::{Net, NetConfig};
pub use scheme::SchemeConfig;
