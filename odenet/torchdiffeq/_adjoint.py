"""``odeint_adjoint`` with torchdiffeq 0.2.5's signature and semantics.

The continuous adjoint (Chen et al. 2018, Appendix B) with torchdiffeq's augmented state
``(t-adjoint, y, adj_y, *adj_params)``, solved backwards interval by interval with this
module's :func:`~odenet.torchdiffeq.odeint` -- so ``adjoint_options`` mean what ``options``
mean (``grid_constructor`` sees the reversed interval, ``jump_t``, ``perturb``, ``norm`` on
the augmented tuple, ...). What torchdiffeq users rely on and :class:`odenet.Adjoint` does
differently lives here: unused parameters get zero gradients, ``dL/dt`` comes from the
integrated time adjoint, the backward's settings sit in ``grad_fn.adjoint_options`` (read
when the backward runs), ``func.callback_*_adjoint`` are called during the backward solve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from ..solving.event_grad import differentiable_event
from ._inputs import check_inputs
from ._norms import adjoint_norm, split_flat, state_norm
from ._odeint import CALLBACK_HOOKS, combine_event_functions, odeint

__all__ = ["odeint_adjoint"]

State = Tensor | tuple[Tensor, ...]


class _FlatField(nn.Module):
    """``func`` on the concatenated vector of a tuple state (torchdiffeq's layout)."""

    def __init__(self, func: Callable[..., Any], shapes: tuple[torch.Size, ...]) -> None:
        super().__init__()
        self.func = func
        self.shapes = shapes

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        out = self.func(t, split_flat(y, self.shapes))
        return torch.cat([o.reshape(-1) for o in out])


class _Callbacks:
    """Carries callbacks under torchdiffeq's names, optionally re-shaping the state."""

    def __init__(self, source: object, suffix: str, shapes: tuple[torch.Size, ...] | None):
        for name in CALLBACK_HOOKS:
            cb = getattr(source, name + suffix, None)
            if cb is None:
                continue
            if shapes is not None:

                def cb_shaped(t0: Tensor, y: Tensor, dt: Tensor, _cb: Any = cb) -> object:
                    return _cb(t0, split_flat(y, shapes), dt)

                setattr(self, name, cb_shaped)
            else:
                setattr(self, name, cb)


@dataclass
class _Run:
    """Everything the backward pass needs besides the saved tensors."""

    func: Callable[[Tensor, Tensor], Tensor]
    rtol: Any
    atol: Any
    method: Any
    options: dict[str, object]
    event_fn: Callable[..., Tensor] | None
    adjoint_rtol: Any
    adjoint_atol: Any
    adjoint_method: Any
    adjoint_options: dict[str, object]
    forward_callbacks: object
    adjoint_callbacks: object


class _AugmentedField:
    """``(vjp_t, y, adj_y, *vjp_params) -> (-a·∂f/∂t, f, -a·∂f/∂y, -a·∂f/∂θ)``."""

    def __init__(self, func: Any, params: tuple[Tensor, ...], t_grad: bool) -> None:
        self.func = func
        self.params = params
        self.t_grad = t_grad

    def __call__(self, t: Tensor, aug: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        y, adj = aug[1], aug[2]
        with torch.enable_grad():
            tt = t.detach().requires_grad_(self.t_grad)
            yy = y.detach().requires_grad_(True)
            f = self.func(tt, yy)
            wrt = ((tt,) if self.t_grad else ()) + (yy, *self.params)
            if f.requires_grad:
                vjps = list(torch.autograd.grad(f, wrt, -adj, allow_unused=True))
            else:  # f depends on neither t, y nor the parameters
                vjps = [None] * len(wrt)
        vt = vjps.pop(0) if self.t_grad else None
        vy = vjps.pop(0)
        out_t = torch.zeros((), dtype=y.dtype, device=y.device) if vt is None else vt.to(y.dtype)
        out_y = torch.zeros_like(y) if vy is None else vy
        out_p = [
            torch.zeros_like(p) if v is None else v for p, v in zip(self.params, vjps, strict=True)
        ]
        return (out_t.reshape(()), f.detach(), out_y, *out_p)


class _OdeintAdjointMethod(Function):
    @staticmethod
    def forward(ctx: Any, run: _Run, y0: Tensor, t: Tensor, *params: Tensor) -> Any:  # type: ignore[override]
        ctx.run = run
        ctx.adjoint_options = run.adjoint_options
        ctx.t_requires_grad = t.requires_grad
        ctx.event_mode = run.event_fn is not None
        with torch.no_grad():
            ans = odeint(
                run.func, y0, t, rtol=run.rtol, atol=run.atol, method=run.method,
                options=run.options, event_fn=run.event_fn,
                callbacks_from=run.forward_callbacks,
            )  # fmt: skip
        if run.event_fn is None:
            ctx.save_for_backward(t, ans, *params)
            return ans
        event_t, ys = ans
        ctx.save_for_backward(t, ys, event_t, *params)
        return event_t, ys

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        run: _Run = ctx.run
        if ctx.event_mode:
            t_user, ys, event_t, *params = ctx.saved_tensors
            t = torch.cat([t_user[:1], event_t.reshape(1).to(t_user)])
            grad_ys = grads[1]
        else:
            t_user, ys, *params = ctx.saved_tensors
            t = t_user
            grad_ys = grads[0]
        t_grad = ctx.t_requires_grad
        aug_field = _AugmentedField(run.func, tuple(params), t_grad)
        zero = torch.zeros((), dtype=ys.dtype, device=ys.device)
        aug = [zero, ys[-1], grad_ys[-1], *(torch.zeros_like(p) for p in params)]
        time_vjps = torch.zeros(len(t), dtype=t.dtype, device=t.device) if t_grad else None
        options = dict(ctx.adjoint_options)  # read now: users may replace the norm
        with torch.no_grad():
            for i in range(len(t) - 1, 0, -1):
                if time_vjps is not None:
                    f_i = run.func(t[i].to(ys.dtype), ys[i])
                    dl_dt = (f_i.reshape(-1) * grad_ys[i].reshape(-1)).sum()
                    aug[0] = aug[0] - dl_dt
                    time_vjps[i] = dl_dt
                out = odeint(
                    aug_field, tuple(aug), t[i - 1 : i + 1].flip(0),
                    rtol=run.adjoint_rtol, atol=run.adjoint_atol, method=run.adjoint_method,
                    options=options, callbacks_from=run.adjoint_callbacks,
                )  # fmt: skip
                aug = [a[1] for a in out]
                aug[1] = ys[i - 1]
                aug[2] = aug[2] + grad_ys[i - 1]
        t_out = None
        if time_vjps is not None:
            time_vjps[0] = aug[0]
            t_out = time_vjps
            if ctx.event_mode:
                t_out = torch.cat([time_vjps[:1], torch.zeros_like(t_user[1:])])
        return (None, aug[2], t_out, *aug[3:])


def _flat_event(
    event_fn: Callable[[Tensor, Any], Tensor], shapes: tuple[torch.Size, ...] | None
) -> Callable[[Tensor, Tensor], Tensor]:
    """``event_fn`` on the flat state."""
    if shapes is None:
        return event_fn

    def flat(t: Tensor, y: Tensor) -> Tensor:
        return event_fn(t, split_flat(y, shapes))

    return flat


def _find_params(func: object, adjoint_params: Sequence[Tensor] | None) -> tuple[Tensor, ...]:
    if adjoint_params is None:
        if not isinstance(func, nn.Module):
            raise ValueError(
                "func must be an instance of nn.Module to specify the adjoint parameters; "
                "alternatively they can be specified explicitly via the `adjoint_params` "
                "argument. If there are no parameters then it is allowable to set "
                "`adjoint_params=()`."
            )
        params = tuple(func.parameters())
    else:
        params = tuple(adjoint_params)
    return tuple(p for p in params if p.requires_grad)


def _adjoint_options(
    method: object,
    adjoint_method: object,
    options: Mapping[str, object] | None,
    adjoint_options: Mapping[str, object] | None,
) -> dict[str, object]:
    if adjoint_method != method and options is not None and adjoint_options is None:
        raise ValueError(
            "If `adjoint_method != method` then we cannot infer `adjoint_options` from "
            "`options`. So as `options` has been passed then `adjoint_options` must be "
            "passed as well."
        )
    if adjoint_options is None:
        return {k: v for k, v in (options or {}).items() if k != "norm"}
    return dict(adjoint_options)


def odeint_adjoint(
    func: Callable[[Tensor, Any], Any],
    y0: State,
    t: Tensor,
    *,
    rtol: float | Tensor = 1e-7,
    atol: float | Tensor = 1e-9,
    method: str | None = None,
    options: Mapping[str, object] | None = None,
    event_fn: Callable[[Tensor, Any], Tensor] | None = None,
    adjoint_rtol: float | Tensor | None = None,
    adjoint_atol: float | Tensor | None = None,
    adjoint_method: str | None = None,
    adjoint_options: Mapping[str, object] | None = None,
    adjoint_params: Sequence[Tensor] | None = None,
) -> Any:
    """torchdiffeq's ``odeint_adjoint``: :func:`odeint`'s result, differentiated by the
    continuous adjoint in ``O(1)`` memory in the number of steps.

    Args:
        func: ``func(t, y)``; an ``nn.Module`` unless ``adjoint_params`` is given.
        adjoint_rtol, adjoint_atol, adjoint_method: settings of the backward solve
            (default: the forward ones).
        adjoint_options: options of the backward solve (default: ``options`` without
            ``norm``); ``norm`` may be ``"seminorm"`` or a callable on the tuple
            ``(t, y, adj_y, *adj_params)`` (``(t, *y, *adj_y, *adj_params)`` for a tuple
            state).
        adjoint_params: the tensors to differentiate with respect to (default:
            ``func.parameters()``); those not requiring grad are left out.

    Returns:
        As :func:`odeint`. With ``event_fn``, ``(event_t, outputs)``; the event time and
        state carry the implicit-function-theorem gradient.
    """
    if adjoint_params is None and not isinstance(func, nn.Module):
        _find_params(func, None)  # raises torchdiffeq's ValueError
    adjoint_rtol = rtol if adjoint_rtol is None else adjoint_rtol
    adjoint_atol = atol if adjoint_atol is None else adjoint_atol
    adjoint_method = method if adjoint_method is None else adjoint_method
    adj_opts = _adjoint_options(method, adjoint_method, options, adjoint_options)
    params = _find_params(func, adjoint_params)
    inputs = check_inputs(y0, t, rtol, atol)
    shapes = inputs.shapes
    opts = dict(options) if options is not None else {}
    forward_norm = state_norm(opts.get("norm"), shapes)  # type: ignore[arg-type]
    if shapes is not None:
        opts["norm"] = forward_norm
        flat_func: Any = _FlatField(func, shapes)
        y0_flat = torch.cat([y.reshape(-1) for y in y0])  # type: ignore[union-attr]
    else:
        flat_func, y0_flat = func, y0
    adj_opts["norm"] = adjoint_norm(adj_opts.get("norm"), forward_norm, shapes)
    flat_event = None if event_fn is None else _flat_event(event_fn, shapes)
    run = _Run(
        flat_func, rtol, atol, method, opts, flat_event, adjoint_rtol, adjoint_atol,
        adjoint_method, adj_opts, _Callbacks(func, "", shapes), _Callbacks(func, "_adjoint", None),
    )  # fmt: skip
    ans = _OdeintAdjointMethod.apply(run, y0_flat, inputs.t, *params)
    if event_fn is None:
        return split_flat(ans, shapes) if shapes is not None else ans
    event_t, ys = ans
    combined = combine_event_functions(
        _flat_event(event_fn, shapes), inputs.t[0].to(ys.dtype), ys[0].detach()
    )
    event_t, y_e = differentiable_event(
        combined, flat_func, float(event_t.detach()), ys[-1], inputs.t
    )
    ys = torch.cat([ys[:-1], y_e.unsqueeze(0)])
    return event_t, (split_flat(ys, shapes) if shapes is not None else ys)
