#!/usr/bin/env python3
"""PyTorch reference timings for ``odenet bench``.

Builds the same networks as odenet (``scripts/odenet_torch.py``, a module-for-module copy of the
registry) and times the same two things with the same protocol:

* ``train``: forward + cross-entropy + backward + SGD step (lr 0.1, momentum 0.9, dampening 0,
  weight decay 1e-4 on every parameter, k_n included, as ``odenet::train::OptimConfig::init``);
* ``infer``: forward in eval mode under ``torch.inference_mode()``.

One batch of N(0, 1) images and labels ``i % classes`` is put on the device once; the first step
is timed alone (compilation, cuDNN autotuning), then ``--warmup`` untimed steps, then ``--steps``
timed steps. Every step ends with ``.item()`` of a scalar (and ``torch.cuda.synchronize()`` on
CUDA) before the clock is read.

Variants (``--variants``, comma-separated):

* ``eager``: fp32, NCHW;
* ``bf16``: ``torch.autocast(bfloat16)`` with the model and the input in ``channels_last``;
* ``compile``: ``torch.compile(model)`` (fp32), default mode, or ``--compile-mode`` (e.g.
  ``reduce-overhead``, CUDA graphs, on CUDA).

Output: one JSON line per (model, variant, mode), with the field names of ``odenet bench --json``
(``model``, ``mode`` = train|infer, ``device``, ``batch_size``, ``images_per_sec``,
``ms_per_step``, ``ms_per_step_min``, ``first_step_s``, ``peak_device_memory_bytes``,
``peak_rss_bytes``, ``threads``) plus ``framework``, ``variant``, ``torch``. A variant that fails
(e.g. ``compile`` without a working compiler) prints a line with an ``error`` field instead.

Example::

    python3 bench/torch_reference.py --model lm-resnet20 --batch-size 128 --device cpu \\
        --warmup 3 --steps 10 --variants eager,compile --mode both
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import traceback
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import odenet_torch as ot  # noqa: E402


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_rss_bytes() -> int:
    # ru_maxrss is KiB on Linux (bytes on macOS); process-wide, over the whole run.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def make_step(args, model_name: str, variant: str, mode: str, device: torch.device):
    """Returns a zero-argument function that runs one step and waits for the device."""
    torch.manual_seed(args.seed)
    model = ot.build(model_name, args.in_channels, args.classes).to(device)
    b, s = args.batch_size, args.image_size
    x = torch.randn(b, args.in_channels, s, s, device=device)
    y = (torch.arange(b, device=device) % args.classes).long()
    autocast = nullcontext()
    if variant == "bf16":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
        autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, dampening=0.0,
                              weight_decay=1e-4)
    else:
        model.eval()
    net = model
    if variant == "compile":
        kwargs = {"mode": args.compile_mode} if args.compile_mode else {}
        net = torch.compile(model, **kwargs)
    elif variant not in ("eager", "bf16"):
        raise ValueError(f"unknown variant '{variant}': use eager, bf16 or compile")

    if mode == "train":
        def step():
            opt.zero_grad(set_to_none=True)
            with autocast:
                loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            value = loss.item()
            sync(device)
            if not torch.isfinite(torch.tensor(value)):
                raise FloatingPointError(f"the loss became {value}")
    else:
        def step():
            with torch.inference_mode(), autocast:
                value = net(x).float().sum().item()
            sync(device)
            if not torch.isfinite(torch.tensor(value)):
                raise FloatingPointError(f"the logits became {value}")
    return step


def bench_one(args, model_name: str, variant: str, mode: str, device: torch.device) -> dict:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step = make_step(args, model_name, variant, mode, device)
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    total = sum(times)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return {
        "images_per_sec": args.batch_size * args.steps / total,
        "ms_per_step": 1e3 * total / args.steps,
        "ms_per_step_min": 1e3 * min(times),
        "first_step_s": first,
        "peak_device_memory_bytes": peak,
        "peak_rss_bytes": peak_rss_bytes(),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="lm-resnet20", help="comma-separated registry names")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--mode", choices=["train", "infer", "both"], default="train")
    p.add_argument("--variants", default="eager", help="comma-separated: eager, bf16, compile")
    p.add_argument("--compile-mode", default=None,
                   help="torch.compile mode for the compile variant, e.g. reduce-overhead (CUDA)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads (default: the number of usable cores)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.steps < 1 or args.batch_size < 1:
        p.error("--steps and --batch-size must be at least 1")

    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            p.error("CUDA is not available to this PyTorch")
        torch.backends.cudnn.benchmark = True
    threads = args.threads or cpu_cores()
    torch.set_num_threads(threads)

    modes = ["train", "infer"] if args.mode == "both" else [args.mode]
    failed = False
    for model_name in args.model.split(","):
        for variant in args.variants.split(","):
            label = variant
            if variant == "compile" and args.compile_mode:
                label = f"compile-{args.compile_mode}"
            for mode in modes:
                row = {
                    "framework": "pytorch", "torch": torch.__version__, "model": model_name,
                    "mode": mode, "variant": label, "device": args.device,
                    "batch_size": args.batch_size, "image_size": args.image_size,
                    "in_channels": args.in_channels, "num_classes": args.classes,
                    "warmup": args.warmup, "steps": args.steps,
                    "threads": torch.get_num_threads(),
                }
                try:
                    row.update(bench_one(args, model_name, variant, mode, device))
                except Exception as e:  # one failing variant must not end the others
                    failed = True
                    row["error"] = f"{type(e).__name__}: {e}".strip()[:2000]
                    if os.environ.get("ODENET_BENCH_TRACEBACK"):
                        traceback.print_exc()
                print(json.dumps(row), flush=True)
    return 1 if failed and os.environ.get("ODENET_BENCH_STRICT") else 0


if __name__ == "__main__":
    sys.exit(main())
