"""Fixture from the official LM-ResNet code (2prime/LM-ResNet, ``MResNet.py``), for tests/official_import.rs.

The official code is imported from the checkout given on the command line; nothing of it is
copied into this repository. Writes to ``--out`` (default tests/fixtures):

* ``official_lm-resnet20.pt``: ``torch.save(net.state_dict())`` of the official ``MResNet20``
  (10 classes, seed 0) after random BN affine parameters and a few train-mode forward passes on
  random batches (so running statistics are not 0 / 1), stored in float16 (a HalfStorage .pt;
  every value is exact in float32). Under 600 kB.
* ``torch_dtypes.pt``: a tiny state dict in float32/64/16 and bfloat16, with a transposed
  (strided) view and an int64 counter, for the .pt reader's test and fuzzing.
* ``official_lm-resnet20_io.safetensors``: float64 ``input`` [4, 3, 32, 32], ``logits_lm``
  (the official eval-mode forward, ``pretrain=False``: the LM-ResNet) and ``logits_resnet``
  (``pretrain=True``: the same weights as a plain ResNet, the ks ignored), both computed in
  float64 from the float16-rounded weights; ``ks`` [blocks] (the official k_code = 1 - k of every block).

Usage::

    python scripts/make_official_fixture.py /path/to/LM-ResNet [--out tests/fixtures] [--model lm-resnet164]

``--model`` (lm-resnet20, the default and the committed fixture; lm-resnet56, lm-resnet110,
lm-resnet164) writes ``official_<model>.pt`` and ``_io.safetensors`` instead; too large to commit,
they are checked by ``ODENET_OFFICIAL_FIXTURES=<out> cargo test --release --test official_import``.

Needs torch and numpy (CPU is enough).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import types
from pathlib import Path

import numpy as np
import torch


def official_module(checkout: Path):
    """Imports MResNet.py from the official checkout (its unused ``from init import *`` gets an
    empty module when the checkout has no init.py)."""
    if not (checkout / "MResNet.py").is_file():
        sys.exit(f"{checkout}: no MResNet.py (expected a checkout of 2prime/LM-ResNet)")
    if not (checkout / "init.py").is_file():
        sys.modules.setdefault("init", types.ModuleType("init"))
    sys.path.insert(0, str(checkout))
    import MResNet  # noqa: E402  (the official file, unmodified)

    return MResNet


# odenet's name of each official constructor used here.
MODELS = {"lm-resnet20": "MResNet20", "lm-resnet56": "MResNet56", "lm-resnet110": "MResNet110", "lm-resnet164": "MResNet164"}


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Minimal safetensors writer (float64 only), so the script needs no extra package."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float64).contiguous().numpy().astype("<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def dtypes_state_dict() -> dict[str, torch.Tensor]:
    """A tiny state dict in every float dtype, with a strided view and an int64 counter (for the
    .pt reader's own test and as the seed of its fuzzing). Values: 0.5 * (i - 2) in file order."""
    ramp = lambda n, dtype: (0.5 * (torch.arange(n, dtype=torch.float64) - 2)).to(dtype)  # noqa: E731
    base = ramp(6, torch.float32).reshape(2, 3)
    return {
        "f32": base,
        "f64": ramp(3, torch.float64),
        "f16": ramp(4, torch.float16).reshape(2, 2),
        "bf16": ramp(2, torch.bfloat16),
        # The transpose of `f32`: the same storage, strides (1, 3).
        "f32_t": base.t(),
        "bn.num_batches_tracked": torch.tensor(7),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("official", type=Path, help="checkout of 2prime/LM-ResNet (holds MResNet.py)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "tests" / "fixtures")
    parser.add_argument("--model", choices=sorted(MODELS), default="lm-resnet20")
    args = parser.parse_args()
    official = official_module(args.official)

    torch.manual_seed(0)
    net = getattr(official, MODELS[args.model])(num_classes=10, pretrain=False)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
        net.train()
        for _ in range(4):
            net(torch.randn(16, 3, 32, 32) * 1.5 + 0.3)
        # Round everything to float16 once; the reference below uses exactly these values.
        net.half().double().eval()
        x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
        logits_lm = net(x)
        net.pretrain = True
        logits_resnet = net(x)
        net.pretrain = False
        ks = torch.cat([k.reshape(1) for k in net.ks])

    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / f"official_{args.model}.pt"
    torch.save(net.half().state_dict(), weights)
    io = args.out / f"official_{args.model}_io.safetensors"
    write_safetensors(io, {"input": x, "logits_lm": logits_lm, "logits_resnet": logits_resnet, "ks": ks})
    print(f"{weights} ({weights.stat().st_size} bytes), {io} ({io.stat().st_size} bytes)")
    dtypes = args.out / "torch_dtypes.pt"
    torch.save(dtypes_state_dict(), dtypes)
    print(f"{dtypes} ({dtypes.stat().st_size} bytes)")
    print("logits_lm[0]:", np.array2string(logits_lm[0].numpy(), precision=5))


if __name__ == "__main__":
    main()
