"""``odeint_adjoint``: a drop-in for ``torchdiffeq.odeint_adjoint``.

``odeint(..., gradient=Adjoint(...))`` under torchdiffeq's argument names; see
:class:`odenet.gradients.Adjoint` for the method (Chen et al. 2018) and the seminorm option
(Kidger et al. 2021).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor

from ..solving.odeint import odeint
from .adjoint import Adjoint

__all__ = ["odeint_adjoint"]

State = Tensor | tuple[Tensor, ...]


def _adjoint_options(options: Mapping[str, object] | None) -> tuple[dict[str, object] | None, bool]:
    """Split torchdiffeq's ``adjoint_options={"norm": "seminorm"}`` from the rest."""
    if options is None:
        return None, False
    if not isinstance(options, Mapping):
        raise TypeError(f"adjoint_options must be a dict or None; got {type(options).__name__}")
    opts = dict(options)
    if opts.get("norm") == "seminorm":
        del opts["norm"]
        return opts, True
    if isinstance(opts.get("norm"), str):
        raise ValueError(
            f"adjoint_options['norm']={opts['norm']!r} is not supported; use 'seminorm' or "
            "a callable norm(tensor) -> 0-d tensor"
        )
    return opts, False


def odeint_adjoint(
    func: Callable[[Tensor, Any], Any],
    y0: State,
    t: Tensor,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    method: Any = None,
    options: Mapping[str, object] | None = None,
    event_fn: Any = None,
    adjoint_rtol: float | None = None,
    adjoint_atol: float | None = None,
    adjoint_method: Any = None,
    adjoint_options: Mapping[str, object] | None = None,
    adjoint_params: Sequence[Tensor] | None = None,
    step_size: float | None = None,
    n_steps: int | None = None,
    first_step: float | None = None,
    max_steps: int | None = None,
    args: Any = None,
) -> Any:
    """Solve like :func:`odenet.odeint` and differentiate with the continuous adjoint.

    Args:
        func: ``func(t, y) -> dy/dt``; an ``nn.Module`` unless ``adjoint_params`` is given.
        y0: ``(*batch, *state)`` tensor or tuple of tensors.
        t: 1-D output times (may require grad).
        method: forward method (default ``"dopri5"``).
        adjoint_rtol, adjoint_atol, adjoint_method, adjoint_options: settings of the
            backward solve (default: the forward ones); ``adjoint_options={"norm":
            "seminorm"}`` selects Kidger et al.'s seminorm.
        adjoint_params: the tensors to differentiate ``func`` with respect to (default:
            ``func.parameters()``).
        args: extra inputs, ``func(t, y, args)``; the tensors in it that require grad are
            differentiated too (see :mod:`odenet.solving.args`).

    Returns:
        ``(len(t), *y0.shape)`` (tuples for tuple states), as ``odeint``.

    Raises:
        ValueError: ``func`` is not an ``nn.Module`` and ``adjoint_params`` is None, or
            ``event_fn`` is given (not supported by the adjoint here).
    """
    adj_opts, semi = _adjoint_options(adjoint_options)
    strategy = Adjoint(
        rtol=adjoint_rtol,
        atol=adjoint_atol,
        method=adjoint_method,
        options=adj_opts,
        params=adjoint_params,
        seminorm=semi,
    )
    return odeint(
        func,
        y0,
        t,
        method="dopri5" if method is None else method,
        rtol=rtol,
        atol=atol,
        step_size=step_size,
        n_steps=n_steps,
        first_step=first_step,
        max_steps=max_steps,
        options=options,
        event_fn=event_fn,
        gradient=strategy,
        args=args,
    )
