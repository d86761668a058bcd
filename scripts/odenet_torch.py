"""PyTorch twin of odenet's model registry (src/nn, src/scheme, src/stage, src/net, src/zoo).

Builds exactly the networks that ``odenet::zoo::create(name, in_channels, num_classes)`` builds, with
the same module tree, so that weights, gradients and parameter counts can be compared one to one
(``tests/parity_pytorch.rs``) and the same models can be timed in PyTorch (``bench/``).

* Branches f(u) return f(u) only (pre-activation BN-ReLU-conv units, bias-free convs, padding
  k // 2, He fan-out normal init N(0, 2 / (k*k*C_out))); the skip connection is added by the scheme.
* A stage's first block is a forward-Euler step with shortcut r = P(u) (BN-ReLU-conv1x1 projection,
  stride s, only when width or resolution changes, else r = u): u_1 = r + f_0(u); the history
  starts as states [r, u_1], branch outputs [f_0(u)].
  Blocks n >= 1: u_{n+1} = u_n + f_n(u_n) + k_n (u_{n-1} - u_n) (LM, paper convention) or
  u_n + f_n(u_n) (ResNet). k of a stage is one tensor ``lm_k`` of shape [blocks - 1, 1]
  (or [blocks - 1, C] per channel), init U[-0.1, 0]. Multistep rules (``a``, ``b``) combine the
  history (Adams-Bashforth start-up); Runge-Kutta rules evaluate a block's branch once per
  tableau stage (src/scheme/).
* Head: BN-ReLU-global average pool-Linear.

Module attribute names mirror the Rust parameter paths of ``odenet::params::inventory`` (enum
variants omitted): ``stem.weight``, ``stages.0.branches.1.a.bn.weight``, ``stages.1.projection.conv.weight``,
``stages.2.scheme.lm_k``, ``head_bn.weight``, ``head_fc.weight``. Only the leaf names differ (BN
``weight``/``bias`` are Burn's ``gamma``/``beta``; Burn's Linear weight is stored [in, out]);
:func:`to_odenet_state` does that renaming.

Usage::

    import odenet_torch as ot
    model = ot.build("lm-resnet56", in_channels=3, num_classes=10)
    state = ot.to_odenet_state(model)          # dict of Rust path -> tensor

Extending: a new family is a function returning a :class:`NetConfig` added to :data:`REGISTRY`
(e.g. a ResNeXt via ``BranchSpec("bottleneck", expansion=4, groups=32, group_width=4)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import Tensor, nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------------
# Configuration (mirrors BranchKind, SchemeConfig, StageConfig, NetConfig)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BranchSpec:
    """Which residual branch (Rust ``BranchKind``).

    ``kind`` is ``"basic"`` (BN-ReLU-conv3x3-BN-ReLU-conv3x3, out = width) or ``"bottleneck"``
    (BN-ReLU-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1, out = expansion * width; inner width
    ``groups * (width * base_width // 64)``, torchvision's convention: ResNeXt CxDd is
    ``groups=C, base_width=D`` with a grouped 3x3).
    """

    kind: str = "basic"
    expansion: int = 1
    groups: int = 1
    base_width: int = 64

    def out_channels(self, width: int) -> int:
        return width if self.kind in ("basic", "shake", "coupled", "pair") else width * self.expansion


BASIC = BranchSpec("basic")
BOTTLENECK = BranchSpec("bottleneck", expansion=4, groups=1, base_width=64)


def resnext(groups: int, base_width: int) -> BranchSpec:
    return BranchSpec("bottleneck", expansion=4, groups=groups, base_width=base_width)


@dataclass(frozen=True)
class Tableau:
    """Explicit Butcher tableau (Rust ``Tableau``): row i of ``a`` holds a_i0 .. a_i(i-1)."""

    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]
    order: int


HEUN2_TABLEAU = Tableau(a=((), (1.0,)), b=(0.5, 0.5), c=(0.0, 1.0), order=2)
RK4_TABLEAU = Tableau(a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
                      b=(1 / 6, 1 / 3, 1 / 3, 1 / 6), c=(0.0, 0.5, 0.5, 1.0), order=4)


@dataclass(frozen=True)
class SchemeSpec:
    """Stepping rule (Rust ``SchemeConfig``): ``"forward-euler"``, ``"linear-two-step"``,
    ``"multistep"`` (``a``, ``b``, ``trainable``) or ``"runge-kutta"`` (``tableau``)."""

    rule: str = "forward-euler"
    k_init: tuple[float, float] = (-0.1, 0.0)
    per_channel: bool = False
    a: tuple[float, ...] = ()
    b: tuple[float, ...] = ()
    trainable: bool = False
    tableau: Tableau | None = None
    order: int = 2  # "poly": u + F(u) + ... + F^order(u)
    iterations: int = 2  # "backward-euler": fixed-point iterations of z = u + F(z)


EULER = SchemeSpec("forward-euler")
LM_PAPER = SchemeSpec("linear-two-step", k_init=(-0.1, 0.0), per_channel=False)
AB2 = SchemeSpec("multistep", a=(1.0, 0.0), b=(1.5, -0.5))
LEAPFROG = SchemeSpec("multistep", a=(0.0, 1.0), b=(2.0, 0.0))
NYSTROM3 = SchemeSpec("multistep", a=(0.0, 1.0, 0.0), b=(7.0 / 3.0, -2.0 / 3.0, 1.0 / 3.0))
HEUN2 = SchemeSpec("runge-kutta", tableau=HEUN2_TABLEAU)
RK4 = SchemeSpec("runge-kutta", tableau=RK4_TABLEAU)
POLYNET = SchemeSpec("poly", order=2)
BACKWARD_EULER2 = SchemeSpec("backward-euler", iterations=2)


def adams_bashforth(m: int) -> tuple[list[float], list[float]]:
    """AB of order m (start-up of longer rules): b_j = (-1)^j/(j!(m-1-j)!) int_0^1 prod_{i!=j}(t+i) dt."""
    b = []
    for j in range(m):
        poly = [1.0]
        for i in (i for i in range(m) if i != j):
            q = [0.0] * (len(poly) + 1)
            for k, c in enumerate(poly):
                q[k] += c * i
                q[k + 1] += c
            poly = q
        integral = sum(c / (k + 1) for k, c in enumerate(poly))
        b.append((-1) ** j * integral / (math.factorial(j) * math.factorial(m - 1 - j)))
    return [1.0] + [0.0] * (m - 1), b


def add_scaled(acc: Tensor, terms) -> Tensor:
    """acc + sum c*x over terms with c != 0 (c == 1 adds x unscaled), as Rust ``add_scaled``."""
    for c, x in terms:
        if c != 0.0:
            acc = acc + (x if c == 1.0 else x * c)
    return acc


@dataclass(frozen=True)
class NetConfig:
    """Everything needed to build a network (Rust ``NetConfig``)."""

    name: str
    in_channels: int
    num_classes: int
    stem_width: int
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    branch: BranchSpec
    scheme: SchemeSpec
    stem: str = "cifar"  # or "imagenet": 7x7/2 conv -> BN -> ReLU -> 3x3/2 max-pool

    def stages(self) -> list[dict]:
        """Stage layouts (in_channels, width, blocks, stride); stage i > 0 has stride 2."""
        out, c_in = [], self.stem_width
        for i, (width, blocks) in enumerate(zip(self.widths, self.depths)):
            out.append(dict(in_channels=c_in, width=width, blocks=blocks, stride=1 if i == 0 else 2))
            c_in = self.branch.out_channels(width)
        return out

    def feature_channels(self) -> int:
        return self.branch.out_channels(self.widths[-1]) if self.widths else self.stem_width


# ---------------------------------------------------------------------------------------------
# Layers (mirrors src/nn)
# ---------------------------------------------------------------------------------------------


def conv(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """Bias-free conv, padding k // 2, W ~ N(0, 2 / (k*k*C_out)) (He fan-out, as ``odenet::nn::conv``)."""
    layer = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False)
    nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / (kernel * kernel * c_out)))
    return layer


def batch_norm(channels: int) -> nn.BatchNorm2d:
    """PyTorch defaults, as the Rust side: eps 1e-5, momentum 0.1, gamma 1, beta 0."""
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)


class BnReluConv(nn.Module):
    """Pre-activation unit BN -> ReLU -> conv (``odenet::nn::BnReluConv``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__()
        self.bn = batch_norm(c_in)
        self.conv = conv(c_in, c_out, kernel, stride, groups)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.relu(self.bn(x)))


class Basic(nn.Module):
    """f(u) = b(a(u)), two 3x3 units; the first carries the stride."""

    def __init__(self, c_in: int, width: int, stride: int):
        super().__init__()
        self.a = BnReluConv(c_in, width, 3, stride)
        self.b = BnReluConv(width, width, 3, 1)

    def forward(self, u: Tensor) -> Tensor:
        return self.b(self.a(u))


class Bottleneck(nn.Module):
    """f(u) = c(b(a(u))): 1x1 -> 3x3 (stride, optionally grouped) -> 1x1 (x expansion)."""

    def __init__(self, c_in: int, width: int, stride: int, spec: BranchSpec):
        super().__init__()
        mid = spec.groups * (width * spec.base_width // 64)
        self.a = BnReluConv(c_in, mid, 1, 1)
        self.b = BnReluConv(mid, mid, 3, stride, spec.groups)
        self.c = BnReluConv(mid, width * spec.expansion, 1, 1)

    def forward(self, u: Tensor) -> Tensor:
        return self.c(self.b(self.a(u)))


class ShakeShake(nn.Module):
    """Two basic branches mixed as eta*f1 + (1-eta)*f2 (eta ~ U(0,1) per image, an independent
    eta' in backward) in training, (f1 + f2) / 2 in eval."""

    def __init__(self, c_in: int, width: int, stride: int):
        super().__init__()
        self.left = Basic(c_in, width, stride)
        self.right = Basic(c_in, width, stride)

    def forward(self, u: Tensor) -> Tensor:
        f1, f2 = self.left(u), self.right(u)
        if not self.training:
            return 0.5 * (f1 + f2)
        eta = torch.rand(u.shape[0], 1, 1, 1, dtype=u.dtype)
        eta_back = torch.rand(u.shape[0], 1, 1, 1, dtype=u.dtype)
        diff = f1 - f2
        return f2 + diff * eta_back + (diff * (eta - eta_back)).detach()


SHAKE = BranchSpec("shake")


class Coupled(nn.Module):
    """RevNet: half-width basic fields F (``f``) and G (``g``). As a plain field [F(x), G(y)]."""

    def __init__(self, c_in: int, width: int, stride: int):
        super().__init__()
        self.f = Basic(max(c_in // 2, 1), max(width // 2, 1), stride)
        self.g = Basic(max(c_in // 2, 1), max(width // 2, 1), stride)

    def forward(self, u: Tensor) -> Tensor:
        x, y = u.chunk(2, dim=1)
        return torch.cat([self.f(x), self.g(y)], dim=1)


COUPLED = BranchSpec("coupled")


class Pair(nn.Module):
    """FractalNet: two full-width basic branches f1, f2. As a plain field: f2(f1(u))."""

    def __init__(self, c_in: int, width: int, stride: int):
        super().__init__()
        self.f1 = Basic(c_in, width, stride)
        self.f2 = Basic(width, width, 1)

    def forward(self, u: Tensor) -> Tensor:
        return self.f2(self.f1(u))


PAIR = BranchSpec("pair")


def make_branch(spec: BranchSpec, c_in: int, width: int, stride: int) -> nn.Module:
    if spec.kind == "basic":
        return Basic(c_in, width, stride)
    if spec.kind == "shake":
        return ShakeShake(c_in, width, stride)
    if spec.kind == "coupled":
        return Coupled(c_in, width, stride)
    if spec.kind == "pair":
        return Pair(c_in, width, stride)
    if spec.kind == "bottleneck":
        return Bottleneck(c_in, width, stride, spec)
    raise ValueError(f"unknown branch kind {spec.kind!r}")


# ---------------------------------------------------------------------------------------------
# Scheme, stage, network (mirrors src/scheme, src/stage.rs, src/net.rs)
# ---------------------------------------------------------------------------------------------


class Scheme(nn.Module):
    """Stepping rule of one stage; holds ``lm_k`` [blocks - 1, 1 or C] for LM, ``ms_a``/``ms_b``
    [full steps, s] (deviations from a, b) for a trainable multistep rule, nothing otherwise."""

    def __init__(self, spec: SchemeSpec, blocks: int, channels: int):
        super().__init__()
        self.spec = spec
        steps = max(blocks - 1, 0)
        self.lm_k = self.ms_a = self.ms_b = None
        self.fractal_k = None
        if spec.rule == "fractal-rk2":
            if steps > 0:  # learned (k1, k2, k3) per step, from (1/2, 1/2, 1)
                self.fractal_k = nn.Parameter(torch.tensor([[0.5, 0.5, 1.0]] * steps))
        elif spec.rule in ("forward-euler", "runge-kutta", "poly", "backward-euler",
                           "coupled-euler") or steps == 0:
            pass
        elif spec.rule == "linear-two-step":
            lo, hi = spec.k_init
            width = channels if spec.per_channel else 1
            self.lm_k = nn.Parameter(torch.empty(steps, width).uniform_(lo, hi))
        elif spec.rule == "multistep":
            rows = max(blocks - self.first_full_step(), 0)
            if spec.trainable and rows > 0:
                self.ms_a = nn.Parameter(torch.zeros(rows, len(spec.a)))
                self.ms_b = nn.Parameter(torch.zeros(rows, len(spec.a)))
        else:
            raise ValueError(f"unknown scheme {spec.rule!r}")

    def first_full_step(self) -> int:
        return max(len(self.spec.a) - 1, 1)

    def step(self, n: int, states: list[Tensor], fs: list[Tensor], f) -> None:
        """Step n >= 1: appends f(u_n) to ``fs`` and u_{n+1} to ``states`` (newest last).

        LM: ``u + f + k_n (prev - u)``; Euler: ``u + f``; multistep: sum a_j u_{n-j} + b_j f_{n-j}
        (Adams-Bashforth of order m while only m states exist); Runge-Kutta: tableau stages."""
        u = states[-1]
        if self.spec.rule == "runge-kutta":
            ks: list[Tensor] = []
            for row in self.spec.tableau.a:
                ks.append(f(add_scaled(u, zip(row, ks))))
            fs.append(ks[0])
            states.append(add_scaled(u, zip(self.spec.tableau.b, ks)))
            return
        fu = f(u)
        fs.append(fu)
        if self.spec.rule == "poly":  # PolyNet: u + F(u) + F(F(u)) + ...
            term, total = fu, u + fu
            for _ in range(1, max(self.spec.order, 1)):
                term = f(term)
                total = total + term
            states.append(total)
            return
        if self.spec.rule == "backward-euler":  # fixed-point iterations of z = u + F(z)
            z = u + fu
            for _ in range(1, max(self.spec.iterations, 1)):
                z = u + f(z)
            states.append(z)
            return
        if self.spec.rule == "multistep":
            states.append(self.multistep(n, states, fs))
        elif self.lm_k is not None:
            k = self.lm_k[n - 1].reshape(1, -1, 1, 1)
            states.append(u + fu + (states[-2] - u) * k)
        else:
            states.append(u + fu)

    def multistep(self, n: int, states: list[Tensor], fs: list[Tensor]) -> Tensor:
        s = len(self.spec.a)
        m = min(len(states), len(fs))
        a, b = (self.spec.a, self.spec.b) if m >= s else adams_bashforth(m)
        us = [states[-1 - j] for j in range(len(a))]
        fus = [fs[-1 - j] for j in range(len(b))]
        row = n - self.first_full_step()
        if self.ms_a is not None and m >= s and 0 <= row < self.ms_a.shape[0]:
            terms = [u * (self.ms_a[row, j] + a[j]) for j, u in enumerate(us)]
            terms += [x * (self.ms_b[row, j] + b[j]) for j, x in enumerate(fus)]
            return sum(terms[1:], terms[0])
        terms = [(c, x) for c, x in list(zip(a, us)) + list(zip(b, fus)) if c != 0.0]
        if not terms:
            return torch.zeros_like(states[-1])
        c, first = terms[0]
        return add_scaled(first if c == 1.0 else first * c, terms[1:])


class Stage(nn.Module):
    """One integration interval: Euler first step (with projection), then ``scheme.step``."""

    def __init__(self, in_channels: int, width: int, blocks: int, stride: int,
                 branch: BranchSpec, scheme: SchemeSpec):
        super().__init__()
        out = branch.out_channels(width)
        self.projection = (BnReluConv(in_channels, out, 1, stride)
                           if in_channels != out or stride != 1 else None)
        self.branches = nn.ModuleList(
            make_branch(branch, in_channels if i == 0 else out, width, stride if i == 0 else 1)
            for i in range(blocks))
        self.scheme = Scheme(scheme, blocks, out)

    def forward(self, u: Tensor) -> Tensor:
        if len(self.branches) == 0:
            return u
        shortcut = self.projection(u) if self.projection is not None else u
        f0 = self.branches[0](u)
        states, fs = [shortcut, shortcut + f0], [f0]
        for i, f in enumerate(self.branches[1:], start=1):
            if self.scheme.spec.rule == "fractal-rk2":  # k1 x + k2 z + f2(z), z = k3 x + f1(x)
                x = states[-1]
                k1, k2, k3 = (self.scheme.fractal_k[i - 1, j] for j in range(3))
                z = k3 * x + f.f1(x)
                states.append(k1 * x + k2 * z + f.f2(z))
                continue
            if self.scheme.spec.rule == "coupled-euler":  # RevNet: x += F(y); y += G(x)
                x, y = states[-1].chunk(2, dim=1)
                x = x + f.f(y)
                states.append(torch.cat([x, y + f.g(x)], dim=1))
                continue
            self.scheme.step(i, states, fs, f)
        return states[-1]


class ImageNetStem(nn.Module):
    """7x7 stride-2 conv -> BN -> ReLU -> 3x3 stride-2 max-pool (padding 1)."""

    def __init__(self, c_in: int, width: int):
        super().__init__()
        self.conv = conv(c_in, width, 7, 2)
        self.bn = batch_norm(width)

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(F.relu(self.bn(self.conv(x))), 3, 2, 1)


class Net(nn.Module):
    """stem conv3x3 (no BN) -> stages -> BN-ReLU-avgpool-Linear."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.config = cfg
        if cfg.stem == "cifar":
            self.stem = conv(cfg.in_channels, cfg.stem_width, 3, 1)
        else:
            self.stem = ImageNetStem(cfg.in_channels, cfg.stem_width)
        self.stages = nn.ModuleList(
            Stage(**s, branch=cfg.branch, scheme=cfg.scheme) for s in cfg.stages())
        features = cfg.feature_channels()
        self.head_bn = batch_norm(features)
        self.head_fc = nn.Linear(features, cfg.num_classes)  # default init = Burn's Linear default

    def forward_features(self, x: Tensor) -> Tensor:
        u = self.stem(x)
        for stage in self.stages:
            u = stage(u)
        return u

    def forward_head(self, u: Tensor) -> Tensor:
        return self.head_fc(F.relu(self.head_bn(u)).mean(dim=(2, 3)))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


# ---------------------------------------------------------------------------------------------
# Registry (mirrors src/zoo.rs)
# ---------------------------------------------------------------------------------------------


def cifar(family: str, depth: int, scheme: SchemeSpec) -> NetConfig:
    """Pre-act CIFAR ResNet ``{family}{depth}``: widths 16/32/64; 6n+2 basic blocks, or 9n+2
    bottlenecks for 164."""
    branch, n = (BOTTLENECK, (depth - 2) // 9) if depth == 164 else (BASIC, (depth - 2) // 6)
    return NetConfig(name=f"{family}{depth}", in_channels=3, num_classes=10, stem_width=16,
                     widths=(16, 32, 64), depths=(n, n, n), branch=branch, scheme=scheme)


def cifar_resnext(groups: int, d: int, scheme: SchemeSpec) -> NetConfig:
    """Pre-act CIFAR ResNeXt-29: 3 stages x 3 bottlenecks, outputs 256/512/1024, stem 64."""
    family = "resnext" if scheme.rule == "forward-euler" else "lm-resnext"
    return NetConfig(name=f"{family}29-{groups}x{d}d", in_channels=3, num_classes=10, stem_width=64,
                     widths=(64, 128, 256), depths=(3, 3, 3), branch=resnext(groups, d), scheme=scheme)


def imagenet(depths: tuple[int, ...], branch: BranchSpec, scheme: SchemeSpec, name: str) -> NetConfig:
    """Pre-act ImageNet ResNet/ResNeXt: 7x7 stem + max-pool, widths 64/128/256/512, 1000 classes."""
    return NetConfig(name=name, in_channels=3, num_classes=1000, stem_width=64,
                     widths=(64, 128, 256, 512), depths=depths, branch=branch, scheme=scheme,
                     stem="imagenet")


_IMAGENET_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


#: name -> zero-argument function returning the model's NetConfig, in the Rust display order.
REGISTRY: dict[str, Callable[[], NetConfig]] = {}
for _depth in (20, 32, 44, 56, 110, 164):
    REGISTRY[f"resnet{_depth}"] = (lambda d: lambda: cifar("resnet", d, EULER))(_depth)
    REGISTRY[f"lm-resnet{_depth}"] = (lambda d: lambda: cifar("lm-resnet", d, LM_PAPER))(_depth)
for _c in (8, 16):
    REGISTRY[f"resnext29-{_c}x64d"] = (lambda c: lambda: cifar_resnext(c, 64, EULER))(_c)
    REGISTRY[f"lm-resnext29-{_c}x64d"] = (lambda c: lambda: cifar_resnext(c, 64, LM_PAPER))(_c)
for _depth, _d in _IMAGENET_DEPTHS.items():
    REGISTRY[f"resnet{_depth}"] = (lambda d, n: lambda: imagenet(d, BOTTLENECK, EULER, f"resnet{n}"))(_d, _depth)
    REGISTRY[f"lm-resnet{_depth}"] = (lambda d, n: lambda: imagenet(d, BOTTLENECK, LM_PAPER, f"lm-resnet{n}"))(_d, _depth)
def shake26(scheme: SchemeSpec) -> NetConfig:
    """Shake-Shake-26 2x32d, pre-act: 3 stages of 4 two-branch blocks, widths 32/64/128."""
    family = "shake-resnet" if scheme.rule == "forward-euler" else "lm-shake-resnet"
    return NetConfig(name=f"{family}26-2x32d", in_channels=3, num_classes=10, stem_width=16,
                     widths=(32, 64, 128), depths=(4, 4, 4), branch=SHAKE, scheme=scheme)


REGISTRY["shake-resnet26-2x32d"] = lambda: shake26(EULER)
REGISTRY["lm-shake-resnet26-2x32d"] = lambda: shake26(LM_PAPER)
REGISTRY["fractal-resnet20"] = lambda: replace(
    cifar("fractal-resnet", 20, SchemeSpec("fractal-rk2")), branch=PAIR)
for _depth in (20, 56, 110):
    REGISTRY[f"revnet{_depth}"] = (lambda d: lambda: NetConfig(
        name=f"revnet{d}", in_channels=3, num_classes=10, stem_width=32, widths=(32, 64, 128),
        depths=((d - 2) // 6,) * 3, branch=COUPLED, scheme=SchemeSpec("coupled-euler")))(_depth)
REGISTRY["resnext50-32x4d"] = lambda: imagenet((3, 4, 6, 3), resnext(32, 4), EULER, "resnext50-32x4d")
REGISTRY["lm-resnext50-32x4d"] = lambda: imagenet((3, 4, 6, 3), resnext(32, 4), LM_PAPER, "lm-resnext50-32x4d")
for _family, _scheme in (("ab2-resnet", AB2), ("leapfrog-resnet", LEAPFROG), ("nystrom3-resnet", NYSTROM3),
                         ("rk2-resnet", HEUN2), ("rk4-resnet", RK4),
                         ("poly-resnet", POLYNET), ("implicit-resnet", BACKWARD_EULER2)):
    REGISTRY[f"{_family}20"] = (lambda f, sc: lambda: cifar(f, 20, sc))(_family, _scheme)


def config(name: str, in_channels: int = 3, num_classes: int = 10) -> NetConfig:
    """The config of a registered model (``odenet::zoo::create``)."""
    if name not in REGISTRY:
        raise KeyError(f"unknown model '{name}'; known models: {', '.join(REGISTRY)}")
    return replace(REGISTRY[name](), in_channels=in_channels, num_classes=num_classes)


def build(name: str, in_channels: int = 3, num_classes: int = 10) -> Net:
    """Builds (and initialises, from torch's global RNG) a registered model."""
    return Net(config(name, in_channels, num_classes))


def count_trainable(model: nn.Module) -> int:
    """Trainable scalars, as ``odenet::params::count_trainable`` (running statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# Name mapping to odenet (Burn) parameter paths
# ---------------------------------------------------------------------------------------------


def odenet_path(model: nn.Module, torch_name: str) -> str | None:
    """Rust path of the PyTorch state-dict entry ``torch_name`` of ``model``, or None if Burn has none.

    BatchNorm ``weight``/``bias`` -> ``gamma``/``beta``; ``running_mean``/``running_var`` kept;
    ``num_batches_tracked`` dropped. Everything else keeps its name.
    """
    prefix, _, leaf = torch_name.rpartition(".")
    if leaf == "num_batches_tracked":
        return None
    if prefix and isinstance(model.get_submodule(prefix), nn.modules.batchnorm._BatchNorm):
        leaf = {"weight": "gamma", "bias": "beta"}.get(leaf, leaf)
    return f"{prefix}.{leaf}" if prefix else leaf


def to_odenet_state(model: nn.Module, tensors: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
    """Maps a state dict (default: ``model.state_dict()``) to odenet's Rust paths and layouts.

    Linear weights are transposed to Burn's [in, out] layout. ``tensors`` may be any dict keyed
    by PyTorch names (e.g. gradients ``{n: p.grad}``); it is mapped the same way. Values are
    detached, contiguous copies in the model's dtype.
    """
    tensors = model.state_dict() if tensors is None else tensors
    out = {}
    for name, t in tensors.items():
        path = odenet_path(model, name)
        if path is None:
            continue
        prefix, _, leaf = name.rpartition(".")
        if leaf == "weight" and isinstance(model.get_submodule(prefix), nn.Linear):
            t = t.t()
        out[path] = t.detach().contiguous().clone()
    return out


__all__ = [
    "BranchSpec", "SchemeSpec", "Tableau", "NetConfig", "BASIC", "BOTTLENECK", "EULER", "LM_PAPER",
    "AB2", "LEAPFROG", "HEUN2", "RK4", "adams_bashforth",
    "BnReluConv", "Basic", "Bottleneck", "Scheme", "Stage", "Net",
    "REGISTRY", "cifar", "config", "build", "count_trainable", "odenet_path", "to_odenet_state",
]
