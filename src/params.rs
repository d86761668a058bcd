//! Parameter inventory: names (module paths, enum variants omitted, as in PyTorch state dicts),
//! shapes, and the count of trainable parameters.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

/// One tensor of a module: its dotted path and shape.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub path: String,
    pub shape: Vec<usize>,
    /// False for batch-norm running statistics, which are state, not parameters.
    pub trainable: bool,
}

#[derive(Default)]
struct Inventory {
    stack: Vec<String>,
    found: Vec<TensorInfo>,
}

impl ModuleVisitor for Inventory {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        // Enum variant names (`Branch::Basic`) are not part of PyTorch-style paths.
        let is_variant = container_type.starts_with("Enum:");
        self.stack.push(if is_variant { String::new() } else { name.to_string() });
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path: Vec<&str> =
            self.stack.iter().map(String::as_str).filter(|n| !n.is_empty()).collect();
        let leaf = path.last().copied().unwrap_or_default();
        self.found.push(TensorInfo {
            path: path.join("."),
            shape: param.lazy_shape().to_vec(),
            trainable: !leaf.starts_with("running_"),
        });
    }
}

/// Every float tensor of `module` (parameters and running statistics), in visiting order.
pub fn inventory<M: Module>(module: &M) -> Vec<TensorInfo> {
    let mut v = Inventory::default();
    module.visit(&mut v);
    v.found
}

/// Number of trainable scalars (what papers report as "params"): running statistics excluded.
pub fn count_trainable<M: Module>(module: &M) -> usize {
    inventory(module)
        .iter()
        .filter(|t| t.trainable)
        .map(|t| t.shape.iter().product::<usize>())
        .sum()
}
