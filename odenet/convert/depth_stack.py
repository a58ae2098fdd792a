"""``DepthStack``: the parameters, buffers and scalars of L blocks stacked along depth.

Block ``k``'s tensor ``theta_k`` of shape ``(*shape)`` becomes row ``k`` of a tensor
``(L, *shape)``; parameters stay trainable ``nn.Parameter`` s, buffers (e.g. BatchNorm
running statistics in eval mode) stay buffers and are interpolated like the weights
(integer buffers such as ``num_batches_tracked`` take the value of the node of largest
weight).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from odenet.convert.interpolation import Weights, interpolate


class StageShapeError(ValueError):
    """Blocks of one stage whose parameters, buffers or scalars differ in name or shape."""


def _encode(name: str) -> str:
    return name.replace(".", "-")


def block_tensors(block: nn.Module, scalars: Sequence[str]) -> dict[str, dict[str, torch.Tensor]]:
    """``{"params": ..., "buffers": ..., "scalars": ...}`` of one block (name -> tensor)."""
    return {
        "params": dict(block.named_parameters()),
        "buffers": dict(block.named_buffers()),
        "scalars": {
            s: torch.tensor(float(getattr(block, s)), dtype=torch.float64) for s in scalars
        },
    }


def _check_same_layout(
    states: Sequence[dict[str, dict[str, torch.Tensor]]], names: Sequence[str]
) -> None:
    ref = states[0]
    for k, state in enumerate(states[1:], start=1):
        for kind in ("params", "buffers", "scalars"):
            a, b = ref[kind], state[kind]
            if a.keys() != b.keys():
                raise StageShapeError(
                    f"block {names[k]!r} has {kind} {sorted(b)} but block {names[0]!r} of the "
                    f"same stage has {sorted(a)}; blocks of one stage must have the same "
                    "structure. Put differing blocks in separate nn.Sequential stages."
                )
            for key in a:
                if a[key].shape != b[key].shape or a[key].dtype != b[key].dtype:
                    raise StageShapeError(
                        f"block {names[k]!r} has {kind[:-1]} {key!r} of shape "
                        f"{tuple(b[key].shape)} ({b[key].dtype}) but block {names[0]!r} of the "
                        f"same stage has {tuple(a[key].shape)} ({a[key].dtype}); parameters "
                        "are interpolated along depth only between equal shapes. Put the "
                        "differing blocks in separate nn.Sequential stages."
                    )


class DepthStack(nn.Module):
    """Stacked tensors of ``L`` structurally identical blocks.

    ``at(weights)`` returns ``{name: tensor}`` (parameters and buffers, names as in the
    block's ``state_dict``) and ``{scalar: 0-d float64 tensor}`` at the interpolation
    ``weights`` (see ``odenet.convert.interpolation``).
    """

    def __init__(
        self, blocks: Sequence[nn.Module], scalars: Sequence[str], names: Sequence[str]
    ) -> None:
        super().__init__()
        states = [block_tensors(b, scalars) for b in blocks]
        _check_same_layout(states, names)
        self.num_blocks = len(blocks)
        self.param_names = list(states[0]["params"])
        self.buffer_names = list(states[0]["buffers"])
        self.scalar_names = list(scalars)
        self.params = nn.ParameterDict()
        for n in self.param_names:
            rows = torch.stack([s["params"][n].detach() for s in states]).clone()
            self.params[_encode(n)] = nn.Parameter(
                rows, requires_grad=states[0]["params"][n].requires_grad
            )
        for n in self.buffer_names:
            rows = torch.stack([s["buffers"][n].detach() for s in states]).clone()
            self.register_buffer("buffer_" + _encode(n), rows)
        for n in self.scalar_names:
            self.register_buffer("scalar_" + n, torch.stack([s["scalars"][n] for s in states]))

    def param(self, name: str) -> torch.Tensor:
        """Stacked parameter ``(L, *shape)``."""
        return self.params[_encode(name)]

    def buffer(self, name: str) -> torch.Tensor:
        """Stacked buffer ``(L, *shape)``."""
        return getattr(self, "buffer_" + _encode(name))

    def scalar(self, name: str) -> torch.Tensor:
        """Stacked scalar ``(L,)`` (float64)."""
        return getattr(self, "scalar_" + name)

    def at(self, weights: Weights) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Tensors (parameters and buffers) and scalars interpolated with ``weights``."""
        nearest = [(max(weights, key=lambda kw: kw[1])[0], 1.0)]
        tensors = {n: interpolate(self.param(n), weights) for n in self.param_names}
        for n in self.buffer_names:
            stacked = self.buffer(n)
            w = weights if stacked.is_floating_point() else nearest
            tensors[n] = interpolate(stacked, w)
        scalars = {n: interpolate(self.scalar(n), weights) for n in self.scalar_names}
        return tensors, scalars

    def parameter_rows(self) -> torch.Tensor:
        """``(L, P)``: each block's parameters flattened and concatenated (for smoothness)."""
        rows = [self.param(n).detach().reshape(self.num_blocks, -1) for n in self.param_names]
        return torch.cat(rows, dim=1) if rows else torch.zeros(self.num_blocks, 0)

    def extra_repr(self) -> str:
        return (
            f"num_blocks={self.num_blocks}, params={len(self.param_names)}, "
            f"buffers={len(self.buffer_names)}, scalars={self.scalar_names}"
        )
