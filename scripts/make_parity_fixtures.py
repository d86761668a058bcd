"""Writes the PyTorch reference fixtures for tests/parity_pytorch.rs.

Rerun from the repository root (CPU is enough, takes seconds):

    python3 scripts/make_parity_fixtures.py

Generated with torch 2.15.0 (CPU), safetensors 0.8.0, numpy 2.4.6. Outputs:

* ``tests/fixtures/parity_<name>.safetensors`` for resnet20, lm-resnet20, a small LM-ResNeXt
  (``lm-resnext-tiny``, see ``tiny_resnext``), ab2-resnet20, leapfrog-resnet20, rk2-resnet20 and
  the same small LM-ResNeXt with other weights (``lm-resnext-tiny-b``, a known gradient
  discrepancy, see tests/parity_pytorch.rs), poly-resnet20 and fractal-resnet20 (3 channels, 10 classes; all built from one RNG stream in this order, so adding
  a model at the end leaves the earlier files unchanged), all fp32 except ``fixture.labels`` (int64):
  - every model tensor under its odenet (Rust) path, BN running statistics as they are AFTER the
    one train-mode forward below (what the eval comparison must use);
  - ``fixture.input`` [8, 3, 32, 32] ~ N(0, 1), ``fixture.labels`` [8];
  - ``fixture.logits_train``: logits in train mode (batch statistics), ``fixture.loss``: mean
    cross-entropy of those logits (shape [1]);
  - ``fixture.grad.<path>``: d loss / d parameter for a selection of parameters (Linear weight
    transposed to Burn's [in, out] like the weight itself) and every ``lm_k``;
  - ``fixture.logits_eval``: logits in eval mode with the running statistics after the step;
  - ``fixture.batch_mean.<bn>`` / ``fixture.batch_var.<bn>`` for every BN: the batch mean and
    BIASED batch variance seen in the train forward ([C]; [calls, C] when a Runge-Kutta block ran
    the BN several times, each call updating the running statistics in turn). Burn updates
    ``running = 0.9 running + 0.1 batch`` with the biased variance; PyTorch uses the unbiased one
    for ``running_var`` (hence these, rather than PyTorch's updated running_var, are the reference
    for Burn's running-statistics update).
* ``tests/fixtures/param_counts.json``: {name: trainable parameter count} for every model in the
  registry (sum of ``p.numel()`` over ``parameters()``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import odenet_torch as ot  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures"
MODELS = ["resnet20", "lm-resnet20", "lm-resnext-tiny", "ab2-resnet20", "leapfrog-resnet20",
          "rk2-resnet20", "lm-resnext-tiny-b", "poly-resnet20", "fractal-resnet20"]


def tiny_resnext(name: str = "lm-resnext-tiny") -> "ot.NetConfig":
    """A small LM-ResNeXt (cardinality 4, grouped 3x3, 3 stages of 3 bottlenecks): the code path of
    LM-ResNeXt-29 at a size that fits a test fixture. Mirrored in tests/parity_pytorch.rs."""
    return ot.NetConfig(name=name, in_channels=3, num_classes=CLASSES, stem_width=16,
                        widths=(8, 16, 32), depths=(3, 3, 3), branch=ot.resnext(4, 16),
                        scheme=ot.LM_PAPER)
BATCH, CLASSES = 8, 10
GRADS = [
    "stem.weight",
    "stages.0.branches.0.a.conv.weight",
    "stages.1.branches.0.a.conv.weight",  # the strided conv of a transition block
    "stages.1.projection.conv.weight",
    "stages.2.branches.2.b.bn.gamma",
    "head_bn.gamma",
    "head_fc.weight",
    "head_fc.bias",
]


def fixture(name: str, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    cfg = tiny_resnext(name) if name.startswith("lm-resnext-tiny") else ot.config(name, 3, CLASSES)
    model = ot.Net(cfg)

    # Batch statistics of every BN in the train forward (mean, biased variance), one pair per
    # call (a Runge-Kutta block calls its branch, hence its BNs, once per tableau stage).
    batch_stats: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def hook(prefix):
        def record(_module, inputs):
            (u,) = inputs
            batch_stats.setdefault(prefix, []).append(
                (u.mean(dim=(0, 2, 3)).detach().clone(),
                 u.var(dim=(0, 2, 3), unbiased=False).detach().clone()))
        return record

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in model.named_modules()
               if isinstance(m, torch.nn.BatchNorm2d)]

    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    for h in handles:
        h.remove()

    model.eval()
    with torch.no_grad():
        logits_eval = model(x)

    out = ot.to_odenet_state(model)  # running stats are now the post-step ones
    grads = ot.to_odenet_state(model, {n: p.grad for n, p in model.named_parameters()})
    wanted = [p for p in GRADS if p in grads] + [
        p for p in grads if p.endswith(("scheme.lm_k", "scheme.fractal_k", ".f1.a.conv.weight"))]
    for path in wanted:
        out[f"fixture.grad.{path}"] = grads[path]
    for prefix, calls in batch_stats.items():
        means, variances = zip(*calls)
        # [C] for one call; [calls, C] (in call order) when the BN ran several times.
        out[f"fixture.batch_mean.{prefix}"] = means[0] if len(calls) == 1 else torch.stack(means)
        out[f"fixture.batch_var.{prefix}"] = variances[0] if len(calls) == 1 else torch.stack(variances)
    out["fixture.input"] = x.clone()
    out["fixture.labels"] = y.clone()
    out["fixture.logits_train"] = logits.detach().clone()
    out["fixture.loss"] = loss.detach().reshape(1).clone()
    out["fixture.logits_eval"] = logits_eval.clone()
    print(f"{name}: loss {loss.item():.6f}, {len(out)} tensors, "
          f"lm_k grads {[p for p in wanted if 'lm_k' in p]}")
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    # Float64 throughout: in float32, ReLU kinks make early-layer gradients of these nets change by
    # ~1 % under 1e-6 relative perturbations of the weights (measured), so two correct f32
    # implementations legitimately disagree there. In f64 the comparison is well conditioned.
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    # The input is read through an f32 buffer on the Rust side, so make it f32-representable.
    x = torch.randn(BATCH, 3, 32, 32, dtype=torch.float32).double()
    y = torch.randint(0, CLASSES, (BATCH,), dtype=torch.int64)
    for name in MODELS:
        path = OUT / f"parity_{name}.safetensors"
        # One metadata key: safetensors writes several in random order (reruns would differ).
        meta = {"generator": f"scripts/make_parity_fixtures.py, torch {torch.__version__}, {name}"}
        save_file(fixture(name, x, y), str(path), metadata=meta)
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.2f} MB)")

    counts = {name: ot.count_trainable(ot.build(name, 3, CLASSES)) for name in ot.REGISTRY}
    (OUT / "param_counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    print(f"wrote tests/fixtures/param_counts.json: {counts}")


if __name__ == "__main__":
    main()
