"""``InterpolatedResidualField``: the vector field of a stage of L residual blocks.

A stage ``x_{k+1} = x_k + r_k(x_k)``, k = 0..L-1, on ``t_span = (t0, t1)`` with step
``h = (t1 - t0) / L`` is L Euler steps of

    f(t, x) = r_{theta(s)}(x) / h,     s = (t - t0) / (t1 - t0),

where ``theta(s)`` interpolates the blocks' parameters, buffers and scalars along depth
(block k at node ``s_k = k / L``; see ``odenet.convert.interpolation``) and ``r_theta`` is the
block's residual (``odenet.convert.registry``) evaluated with those tensors by
``torch.func.functional_call`` on a template copy of the first block. References: Chen et
al. 2018 (neural ODEs); Sander, Ablin, Peyré, "Do residual neural networks discretize
neural ordinary differential equations?", NeurIPS 2022; Queiruga et al. 2020,
"Continuous-in-depth neural networks".
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn
from torch.func import functional_call

from odenet.convert.depth_stack import DepthStack
from odenet.convert.interpolation import check_interpolation, interpolation_weights
from odenet.convert.registry import BlockRule


class _Residual(nn.Module):
    """``x -> rule.residual_fn(block, x)`` (so ``functional_call`` can substitute tensors)."""

    def __init__(self, block: nn.Module, rule: BlockRule) -> None:
        super().__init__()
        self.block = block
        self.rule = rule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rule.residual_fn(self.block, x)


@contextmanager
def _scalars_set(block: nn.Module, scalars: dict[str, torch.Tensor]) -> Iterator[None]:
    saved = {n: getattr(block, n) for n in scalars}
    try:
        for n, v in scalars.items():
            setattr(block, n, v)
        yield
    finally:
        for n, v in saved.items():
            setattr(block, n, v)


class InterpolatedResidualField(nn.Module):
    """``f(t, x) = r_{theta(s)}(x) / h`` for a stage of ``L`` residual blocks.

    Args:
        blocks: the L blocks (eval mode, same rule, same parameter shapes); copied.
        rule: how to read their residual.
        interpolation: ``"constant"``, ``"linear"`` or ``"cubic"`` along depth.
        t_span: the depth interval ``(t0, t1)`` of the stage.
        names: the blocks' names in the original model (for messages and reports).

    Shapes: ``forward(t, x)``: ``t`` scalar, ``x: (batch, *state) -> (batch, *state)``.

    The stacked tensors are in ``self.stack`` (trainable parameters ``(L, *shape)``); the
    template block is held outside the module tree (it carries no state of its own and
    stays in eval mode, so BatchNorm always uses the stacked running statistics).
    """

    def __init__(
        self,
        blocks: Sequence[nn.Module],
        rule: BlockRule,
        interpolation: str = "constant",
        t_span: tuple[float, float] = (0.0, 1.0),
        names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if len(blocks) == 0:
            raise ValueError("blocks must hold at least one residual block; got none.")
        names = [f"block {k}" for k in range(len(blocks))] if names is None else list(names)
        self.stack = DepthStack(blocks, rule.scalars, names)
        self.rule = rule
        self.interpolation = check_interpolation(interpolation)
        self.t_span = (float(t_span[0]), float(t_span[1]))
        self.block_names = names
        object.__setattr__(self, "_residual", _Residual(copy.deepcopy(blocks[0]).eval(), rule))

    @property
    def num_blocks(self) -> int:
        return self.stack.num_blocks

    @property
    def step(self) -> float:
        """``h = (t1 - t0) / L``: the step of the original blocks."""
        return (self.t_span[1] - self.t_span[0]) / self.num_blocks

    def depth(self, t: torch.Tensor | float) -> float:
        """Normalised depth ``s = (t - t0) / (t1 - t0)``."""
        return (float(t) - self.t_span[0]) / (self.t_span[1] - self.t_span[0])

    def tensors_at(self, s: float) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Interpolated ``(tensors, scalars)`` of the block at normalised depth ``s``."""
        return self.stack.at(interpolation_weights(s, self.num_blocks, self.interpolation))

    def residual(self, s: float, x: torch.Tensor) -> torch.Tensor:
        """``r_{theta(s)}(x)``: the residual of the interpolated block at depth ``s``."""
        tensors, scalars = self.tensors_at(s)
        prefixed = {"block." + n: v for n, v in tensors.items()}
        with _scalars_set(self._residual.block, scalars):
            return functional_call(self._residual, prefixed, (x,))

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.residual(self.depth(t), x) * (1.0 / self.step)

    def block_at(self, s: float) -> nn.Module:
        """A plain copy of the block with the interpolated tensors at depth ``s`` loaded
        (computes ``x + r_{theta(s)}(x)``; with ``"constant"`` at ``s = k/L`` it is block k)."""
        tensors, scalars = self.tensors_at(s)
        block = copy.deepcopy(self._residual.block)
        for name, value in tensors.items():
            path, _, attr = name.rpartition(".")
            owner = block.get_submodule(path) if path else block
            if attr in owner._parameters:
                old = owner._parameters[attr]
                owner._parameters[attr] = nn.Parameter(
                    value.detach().clone(), requires_grad=old.requires_grad
                )
            else:
                owner._buffers[attr] = value.detach().clone()
        for name, value in scalars.items():
            setattr(block, name, float(value))
        return block

    def extra_repr(self) -> str:
        return (
            f"rule={self.rule.name}, num_blocks={self.num_blocks}, "
            f"interpolation={self.interpolation!r}, t_span={self.t_span}"
        )
