"""``ode_to_resnet``: unroll every ``ODEBlock`` into a plain residual network.

``n`` steps of an explicit Runge--Kutta method with Butcher tableau ``(a, b, c)`` and step
``h = (t1 - t0) / n`` become ``n`` modules, step ``j`` computing

    k_i = f(t_j + c_i h, x + h sum_{l<i} a_il k_l),   x <- x + h sum_i b_i k_i,

with every stage time a constant, so the result calls no solver and runs under
``torch.export``. For a field converted from a ResNet (``InterpolatedResidualField``) each
stage is a materialised copy of the block with the interpolated tensors at that depth; with
Euler the step is the block itself, ``x + (h / h_L) r_{theta(t_j)}(x)`` (``h_L = 1/L``),
written in the block's own class where the rule allows (odenet's ``ResidualBlock`` folds
the factor into ``scale``), so ``resnet -> ode (constant) -> resnet`` with ``L`` steps gives
back the original blocks and weights.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import nn

from odenet.convert.field import InterpolatedResidualField
from odenet.convert.registry import BlockRule
from odenet.nn.ode_block import ODEBlock
from odenet.solvers import ButcherTableau, RungeKutta, get_method

IDENTITY_TOLERANCE = 1e-12
"""A step factor ``h / h_L`` this close to 1 keeps the block unchanged."""


class ScaledResidual(nn.Module):
    """``x -> x + factor * residual_fn(block, x)``: a residual block with its step rescaled.

    Shapes: ``(batch, *state) -> (batch, *state)``.
    """

    def __init__(self, block: nn.Module, rule: BlockRule, factor: float) -> None:
        super().__init__()
        self.block = block
        self.rule = rule
        self.factor = float(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.factor * self.rule.residual_fn(self.block, x)

    def extra_repr(self) -> str:
        return f"rule={self.rule.name}, factor={self.factor:.6g}"


class ResidualRate(nn.Module):
    """``x -> rate * residual_fn(block, x)``: an interpolated field at one depth."""

    def __init__(self, block: nn.Module, rule: BlockRule, rate: float) -> None:
        super().__init__()
        self.block = block
        self.rule = rule
        self.rate = float(rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rate * self.rule.residual_fn(self.block, x)


class FieldAt(nn.Module):
    """``x -> field(t, x)`` at a fixed time ``t`` (a buffer)."""

    def __init__(self, field: nn.Module, t: float) -> None:
        super().__init__()
        self.field = field
        self.register_buffer("t", torch.tensor(float(t)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.field(self.t.to(x.dtype), x)


class RungeKuttaStep(nn.Module):
    """One explicit Runge--Kutta step ``x -> x + h sum_i b_i k_i`` with stage rates
    ``k_i = rates[index[i]](x + h sum_l a_il k_l)``.

    Shapes: ``(batch, *state) -> (batch, *state)``.
    """

    def __init__(
        self,
        rates: list[nn.Module],
        index: list[int],
        a: tuple[tuple[float, ...], ...],
        b: tuple[float, ...],
        h: float,
    ) -> None:
        super().__init__()
        self.rates = nn.ModuleList(rates)
        self.index = list(index)
        self.a = [list(row) for row in a]
        self.b = list(b)
        self.h = float(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ks: list[torch.Tensor] = []
        for i, row in enumerate(self.a):
            xi = x
            for ail, kl in zip(row, ks, strict=False):
                if ail != 0.0:
                    xi = xi + (self.h * ail) * kl
            ks.append(self.rates[self.index[i]](xi))
        out = x
        for bi, ki in zip(self.b, ks, strict=True):
            if bi != 0.0:
                out = out + (self.h * bi) * ki
        return out

    def extra_repr(self) -> str:
        return f"stages={len(self.b)}, h={self.h:.6g}"


def _euler_blocks(
    field: InterpolatedResidualField, times: list[float], h: float
) -> list[nn.Module]:
    factor = h / field.step
    blocks = []
    for t in times:
        block = field.block_at(field.depth(t))
        if abs(factor - 1.0) <= IDENTITY_TOLERANCE:
            blocks.append(block)
        elif field.rule.rescale is not None:
            blocks.append(field.rule.rescale(block, factor))
        else:
            blocks.append(ScaledResidual(block, field.rule, factor))
    return blocks


def _rk_step(field: nn.Module, t: float, h: float, tableau: ButcherTableau) -> RungeKuttaStep:
    times = [t + ci * h for ci in tableau.c]
    unique = list(dict.fromkeys(times))
    if isinstance(field, InterpolatedResidualField):
        rates = [
            ResidualRate(field.block_at(field.depth(ti)), field.rule, 1.0 / field.step)
            for ti in unique
        ]
    else:
        rates = [FieldAt(field, ti) for ti in unique]
    index = [unique.index(ti) for ti in times]
    return RungeKuttaStep(rates, index, tableau.a, tableau.b, h)


def unroll_block(block: ODEBlock, steps: int, method: str = "euler") -> list[nn.Module]:
    """The ``steps`` modules replacing ``block`` (``steps`` steps of a fixed-step method)."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive int; got {steps!r}. Pass e.g. steps=8.")
    rk = get_method(method)
    if not isinstance(rk, RungeKutta):
        raise ValueError(
            f"method={method!r} is not a one-step Runge--Kutta method; ode_to_resnet unrolls "
            "one step into one block. Use 'euler', 'midpoint', 'heun' or 'rk4'."
        )
    if rk.adaptive:
        raise ValueError(
            f"method={method!r} is adaptive; ode_to_resnet unrolls a fixed number of steps. "
            "Use a fixed-step method: 'euler', 'midpoint', 'heun' or 'rk4'."
        )
    t0, t1 = block.t_span
    h = (t1 - t0) / steps
    times = [t0 + j * h for j in range(steps)]
    field = block.field
    if rk.name == "euler" and isinstance(field, InterpolatedResidualField):
        return _euler_blocks(field, times, h)
    return [_rk_step(field, t, h, rk.tableau) for t in times]


def _steps_for(steps: int | Mapping[str, int], name: str) -> int:
    if isinstance(steps, Mapping):
        if name not in steps:
            raise ValueError(
                f"steps has no entry for the ODE block {name!r}; got keys {sorted(steps)}. "
                "Give an int for all blocks or a dict with every ODE block's name."
            )
        return steps[name]
    return steps


def _is_plain_ode_block(module: nn.Module) -> bool:
    return isinstance(module, ODEBlock) and type(module).forward is ODEBlock.forward


class _Unroller:
    def __init__(self, steps: int | Mapping[str, int], method: str) -> None:
        self.steps = steps
        self.method = method
        self.count = 0

    def modules_for(self, module: nn.Module, path: str) -> list[nn.Module] | None:
        if isinstance(module, ODEBlock):
            if not _is_plain_ode_block(module):
                raise TypeError(
                    f"ode_to_resnet cannot unroll {path!r} ({type(module).__name__}): it "
                    "overrides ODEBlock.forward. Unroll only plain ODEBlock s."
                )
            self.count += 1
            return unroll_block(module, _steps_for(self.steps, path), self.method)
        return None

    def walk(self, module: nn.Module, path: str) -> nn.Module:
        steps = self.modules_for(module, path)
        if steps is not None:
            return nn.Sequential(*steps)
        if isinstance(module, nn.Sequential):
            return self._sequential(module, path)
        for name, child in list(module.named_children()):
            module._modules[name] = self.walk(child, f"{path}.{name}" if path else name)
        return module

    def _sequential(self, seq: nn.Sequential, path: str) -> nn.Sequential:
        numbered = all(k.isdigit() for k in seq._modules)
        items: list[tuple[str, nn.Module]] = []
        for key, child in seq.named_children():
            name = f"{path}.{key}" if path else key
            steps = self.modules_for(child, name)
            if steps is None:
                items.append((key, self.walk(child, name)))
            elif numbered:
                items += [(key, s) for s in steps]
            else:
                items.append((key, nn.Sequential(*steps)))
        if numbered:
            items = [(str(i), m) for i, (_, m) in enumerate(items)]
        new = nn.Sequential(OrderedDict(items))
        new.train(seq.training)
        return new


def ode_to_resnet(
    model: nn.Module, steps: int | Mapping[str, int], method: str = "euler"
) -> nn.Module:
    """A copy of ``model`` with every ``ODEBlock`` unrolled into ``steps`` residual steps.

    Args:
        model: a model holding ``ODEBlock`` s (not modified).
        steps: steps per ODE block: an int, or ``{block name: int}`` (names as in
            ``model.named_modules()``).
        method: a fixed-step method: ``"euler"`` (one block per step), ``"midpoint"``,
            ``"heun"``, ``"rk4"`` (one ``RungeKuttaStep`` per step holding its stages).

    Returns:
        The unrolled model (no solver calls; ``torch.export``-able). Inside an
        ``nn.Sequential`` with numbered children the steps are spliced in and renumbered,
        so a ResNet converted with ``resnet_to_ode`` comes back with its original names.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module; got {type(model).__name__}.")
    unroller = _Unroller(steps, method)
    out = unroller.walk(copy.deepcopy(model), "")
    if unroller.count == 0:
        raise ValueError(
            f"ode_to_resnet found no ODEBlock in {type(model).__name__}; convert a ResNet "
            "first with resnet_to_ode, or pass a model holding odenet.ODEBlock s."
        )
    return out
