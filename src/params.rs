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

/// The dotted path of the tensor a [`ModuleVisitor`] is at, for visitors that need names:
/// call [`PathStack::enter`] / [`PathStack::exit`] from `enter_module` / `exit_module`.
#[derive(Default, Debug)]
pub struct PathStack(Vec<String>);

impl PathStack {
    pub fn enter(&mut self, name: &str, container_type: &str) {
        // Enum variant names (`Branch::Basic`) are not part of PyTorch-style paths.
        let is_variant = container_type.starts_with("Enum:");
        self.0.push(if is_variant { String::new() } else { name.to_string() });
    }

    pub fn exit(&mut self) {
        self.0.pop();
    }

    /// e.g. `stages.1.branches.0.a.bn.gamma`.
    pub fn path(&self) -> String {
        let parts: Vec<&str> = self.0.iter().map(String::as_str).filter(|n| !n.is_empty()).collect();
        parts.join(".")
    }
}

#[derive(Default)]
struct Inventory {
    stack: PathStack,
    found: Vec<TensorInfo>,
}

impl ModuleVisitor for Inventory {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.stack.path();
        let leaf = path.rsplit('.').next().unwrap_or_default();
        self.found.push(TensorInfo {
            trainable: !leaf.starts_with("running_"),
            path,
            shape: param.lazy_shape().to_vec(),
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
