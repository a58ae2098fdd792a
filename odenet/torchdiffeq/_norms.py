"""torchdiffeq's error norms: what a user ``norm`` receives and the adjoint's defaults.

torchdiffeq hands ``options["norm"]`` the scaled error in the user's shape: a tensor for a
tensor state, a tuple of tensors for a tuple state (default there: the largest RMS over the
tuple's tensors). The adjoint's norm receives ``(t, y, adj_y, *adj_params)``; its default is
the largest of ``|t|``, the forward norm of ``y`` and of ``adj_y`` and the RMS norms of the
parameter adjoints (without the latter for ``"seminorm"``; Kidger et al. 2021).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = [
    "adjoint_norm",
    "mixed_norm",
    "rms_norm",
    "split_flat",
    "state_norm",
]

Norm = Callable[[Tensor], Tensor]


def rms_norm(x: Tensor) -> Tensor:
    """Root mean square of all entries (torchdiffeq's default for a tensor state)."""
    return x.abs().pow(2).mean().sqrt()


def mixed_norm(xs: Sequence[Tensor]) -> Tensor | float:
    """The largest RMS norm over a tuple of tensors (``0.0`` for an empty tuple)."""
    if len(xs) == 0:
        return 0.0
    return max(rms_norm(x) for x in xs)  # type: ignore[return-value]


def split_flat(flat: Tensor, shapes: Sequence[torch.Size]) -> tuple[Tensor, ...]:
    """``flat`` ``(*lead, total)`` cut into views ``(*lead, *shape)`` for each shape."""
    out, start = [], 0
    lead = flat.shape[:-1]
    for shape in shapes:
        n = shape.numel()
        out.append(flat[..., start : start + n].view((*lead, *shape)))
        start += n
    return tuple(out)


def state_norm(user: Callable[..., Tensor] | None, shapes: Sequence[torch.Size] | None) -> Norm:
    """The norm odenet's loop calls on the flat scaled error, in torchdiffeq's terms.

    Args:
        user: ``options["norm"]`` or ``None``.
        shapes: the tuple state's shapes, or ``None`` for a tensor state.
    """
    if shapes is None:
        return user if user is not None else rms_norm
    base = user if user is not None else mixed_norm
    frozen = tuple(shapes)

    def norm(flat: Tensor) -> Tensor:
        return torch.as_tensor(base(split_flat(flat, frozen)))

    return norm


def adjoint_norm(
    user: object,
    forward: Norm,
    shapes: Sequence[torch.Size] | None,
) -> Callable[[tuple[Tensor, ...]], Tensor]:
    """The norm over the adjoint tuple ``(t, y, adj_y, *adj_params)``.

    Args:
        user: ``adjoint_options["norm"]``: ``None`` (default norm), ``"seminorm"`` or a
            callable; for a tuple state a callable receives ``(t, *y, *adj_y, *params)``.
        forward: the forward solve's norm on the flat state (see :func:`state_norm`).
        shapes: the tuple state's shapes, or ``None``.
    """
    if user is None or user == "seminorm":
        with_params = user is None

        def default(parts: tuple[Tensor, ...]) -> Tensor:
            t, y, adj_y, *params = parts
            out = max(t.abs(), forward(y), forward(adj_y))
            if with_params and params:
                out = max(out, mixed_norm(params))  # type: ignore[type-var]
            return torch.as_tensor(out)

        return default
    if not callable(user):
        raise ValueError(f"adjoint_options['norm'] must be 'seminorm' or a callable; got {user!r}")
    if shapes is None:
        return user  # type: ignore[return-value]
    frozen = tuple(shapes)

    def unflatten(parts: tuple[Tensor, ...]) -> Tensor:
        t, y, adj_y, *params = parts
        return user((t, *split_flat(y, frozen), *split_flat(adj_y, frozen), *params))  # type: ignore[operator]

    return unflatten
