"""Loads a state dict written by ``odenet export RUN --to official OUT.pt`` into the official
LM-ResNet code (2prime/LM-ResNet ``MResNet.py``, unmodified, imported from the checkout given on
the command line) and checks it, outside CI (needs PyTorch):

* ``torch.load(OUT.pt, weights_only=True)`` reads it (only the globals a plain state dict needs);
* ``load_state_dict(strict=True)`` into the official model accepts it (no missing or unexpected
  key, every shape right);
* the official eval-mode logits on the ``input`` of ``--io`` equal its ``--logits`` tensor (float64;
  default: tests/fixtures/official_lm-resnet20_io.safetensors, the official code's own logits for
  the committed fixture weights) to ``--tol`` relative to the largest logit.

Usage (the fixture's weights through odenet and back)::

    odenet import tests/fixtures/official_lm-resnet20.pt --config CONFIG.json --out /tmp/run
    odenet export /tmp/run --to official /tmp/official.pt
    python scripts/check_export_with_torch.py /path/to/LM-ResNet /tmp/official.pt --model lm-resnet20

``--model resnet20`` is MResNet20 with ``pretrain=True`` (compare with ``--logits logits_resnet``);
``--per-channel`` loads into ``MResNetC`` (per-channel k) with the same blocks instead;
logits of another input, e.g. from ``odenet predict``, can be given as a safetensors file holding
``input`` [N, 3, 32, 32] and the logits. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_official_fixture import MODELS, official_module  # noqa: E402

DTYPES = {"F64": "<f8", "F32": "<f4"}


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Float64/float32 tensors of a safetensors file (minimal reader: no extra package needed)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        data = np.frombuffer(raw[8 + n + start : 8 + n + end], dtype=DTYPES[info["dtype"]])
        out[name] = torch.from_numpy(data.astype(np.float64).reshape(info["shape"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("official", type=Path, help="checkout of 2prime/LM-ResNet (holds MResNet.py)")
    parser.add_argument("weights", type=Path, help="a .pt written by odenet export --to official")
    parser.add_argument("--model", choices=sorted(MODELS) + ["resnet20"], default="lm-resnet20")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--per-channel", action="store_true", help="MResNetC (an export of a --per-channel-k run)")
    fixtures = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
    parser.add_argument("--io", type=Path, default=fixtures / "official_lm-resnet20_io.safetensors")
    parser.add_argument("--logits", default=None, help="tensor of --io to compare with (default logits_lm, or logits_resnet for resnet20)")
    parser.add_argument("--tol", type=float, default=1e-5)
    args = parser.parse_args()
    official = official_module(args.official)

    pretrain = args.model == "resnet20"
    constructor = MODELS["lm-resnet20" if pretrain else args.model]
    net = getattr(official, constructor)(num_classes=args.num_classes, pretrain=pretrain)
    if args.per_channel:
        # The same block and (equal) stage depths, per-channel ks.
        constructor = "MResNetC"
        net = official.MResNetC(net.block, [len(net.blocks) // 3] * 3, pretrain=pretrain, num_classes=args.num_classes)
    state = torch.load(args.weights, weights_only=True)
    result = net.load_state_dict(state, strict=True)
    print(f"{args.weights}: torch.load(weights_only=True) read {len(state)} tensors; "
          f"{constructor}(pretrain={pretrain}).load_state_dict(strict=True): {result}")

    io = read_safetensors(args.io)
    key = args.logits or ("logits_resnet" if pretrain else "logits_lm")
    net.eval()
    with torch.no_grad():
        got32 = net(io["input"].float()).double()
        got64 = net.double()(io["input"])
    want = io[key]
    scale = want.abs().max().item()
    ok = True
    for what, got in (("float32", got32), ("float64", got64)):
        err = (got - want).abs().max().item()
        print(f"{what} official forward vs {args.io.name}:{key}: max |error| {err:.3e}, / max |logit| {err / scale:.3e}")
        ok &= err <= args.tol * scale
    print("OK" if ok else f"FAIL (tolerance {args.tol} relative)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
