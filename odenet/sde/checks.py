"""Input checks for :class:`odenet.sde.SDEBlock`, run before anything reaches torchsde.

Each raises ``TypeError``/``ValueError`` naming the argument, the value received and the fix.
The checks of drift and diffusion use one evaluation of each at ``(ts[0], y0)`` per forward
(:func:`first_evaluations`), as ``odenet.solving._checks.check_output`` does for ``odeint``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

__all__ = [
    "adjoint_param_owner",
    "check_adjoint_params",
    "check_dt",
    "check_ts",
    "check_ts_dtype",
    "check_y0",
    "expected_diffusion_shape",
    "first_evaluations",
]

VectorField = Callable[[Tensor, Tensor], Tensor]


def check_dt(dt: object) -> float:
    """``dt`` as a positive finite float (a Python number or a one-element tensor)."""
    value = dt
    if isinstance(value, Tensor) and value.numel() == 1:
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"dt must be a positive number (the fixed step size); got dt={dt!r} "
            f"({type(dt).__name__}). Pass a float, e.g. dt=0.01"
        )
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"dt must be > 0 and finite; got dt={value}. Pass e.g. dt=0.01")
    return float(value)


def check_y0(y0: object) -> Tensor:
    """A floating-point tensor of shape (batch, dim)."""
    if not isinstance(y0, Tensor):
        raise TypeError(
            f"y0 must be a torch.Tensor of shape (batch, dim); got {type(y0).__name__}. "
            "Use e.g. torch.as_tensor(y0, dtype=torch.float32)"
        )
    if y0.dim() != 2:
        raise ValueError(
            f"y0 must be a tensor of shape (batch, dim); got {tuple(y0.shape)}. Flatten the "
            "state, e.g. y0.reshape(y0.shape[0], -1)"
        )
    if not torch.is_floating_point(y0):
        raise TypeError(
            f"y0 must have a floating-point dtype (the Brownian increments are Gaussian); got "
            f"{y0.dtype}. Convert it, e.g. y0.to(torch.float32)"
        )
    return y0


def check_ts_dtype(ts: object) -> None:
    """A tensor ``ts`` must be floating point: integer times are refused, not cast."""
    if isinstance(ts, Tensor) and not torch.is_floating_point(ts):
        raise TypeError(
            f"ts must be a floating-point tensor of times; got dtype {ts.dtype} "
            f"({ts.reshape(-1)[:6].tolist()}...). Build it in floating point, e.g. "
            "torch.linspace(0.0, 1.0, 11) or ts.to(y0.dtype)"
        )


def check_ts(ts: Tensor) -> None:
    """1-D, at least two times, strictly increasing (torchsde integrates forward only)."""
    if ts.dim() != 1 or ts.numel() < 2:
        raise ValueError(f"ts must be a 1-D tensor with >= 2 times; got shape {tuple(ts.shape)}.")
    steps = ts[1:] - ts[:-1]
    if bool((steps <= 0).any()):
        i = int(torch.nonzero(steps <= 0)[0, 0]) + 1
        raise ValueError(
            f"ts must be strictly increasing (torchsde integrates forward in time); got "
            f"ts[{i}]={float(ts[i])} after ts[{i - 1}]={float(ts[i - 1])}."
        )


def expected_diffusion_shape(
    noise_type: str, batch: int, dim: int, noise_size: int | None
) -> tuple[int, ...]:
    """Shape g(t, y) must have: (batch, dim) for diagonal noise, (batch, dim, 1) for scalar,
    (batch, dim, m) for additive/general noise (m = Brownian dimension)."""
    if noise_type == "diagonal":
        return (batch, dim)
    if noise_type == "scalar":
        return (batch, dim, 1)
    return (batch, dim, noise_size if noise_size is not None else -1)


def _first_layer(fn: object) -> str:
    """``"; its first layer is nn.Linear(in_features=5, ...) in torch.float32"`` or ``""``."""
    module = adjoint_param_owner(fn)
    if module is None:
        return ""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            return (
                f"; its first layer is nn.Linear(in_features={m.in_features}, ...) in "
                f"{m.weight.dtype}"
            )
    param = next(module.parameters(), None)
    return "" if param is None else f"; its parameters are {param.dtype}"


def _evaluate(name: str, fn: VectorField, t0: Tensor, y0: Tensor) -> object:
    """``fn(t0, y0)``; a TypeError (typically a one-argument module) gets the calling hint,
    a RuntimeError (typically a state of the wrong size or dtype) the state it was given."""
    module = adjoint_param_owner(fn)
    param = None if module is None else next(module.parameters(), None)
    if param is not None and param.is_floating_point() and param.dtype != y0.dtype:
        raise TypeError(
            f"{name} has {param.dtype} parameters but y0 is {y0.dtype}; convert one of them, "
            f"e.g. {name}.to({y0.dtype}) or y0.to({param.dtype})"
        )
    try:
        return fn(t0, y0)
    except RuntimeError as err:
        raise ValueError(
            f"{name}(t, y) failed on its first call with y of shape {tuple(y0.shape)} "
            f"(batch, dim) and dtype {y0.dtype}{_first_layer(fn)}: {err}. Check that {name} is "
            f"built for states of dim={y0.shape[1]} in {y0.dtype}, or pass y0 of the size and "
            "dtype it expects"
        ) from err
    except TypeError as err:
        raise TypeError(
            f"{name}(t, y) raised TypeError on its first call (t={float(t0)}, y of shape "
            f"{tuple(y0.shape)}): {err}. {name} is called as {name}(t, y) with t a 0-d tensor "
            "and y of shape (batch, dim); wrap a one-argument network such as nn.Linear in an "
            "nn.Module whose forward(t, y) returns net(y) (a lambda t, y: net(y) also works "
            "when adjoint=False)"
        ) from err


def _check_dtype(name: str, out: object, y0: Tensor) -> Tensor:
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(t0, y0) must return a tensor; got {type(out).__name__}")
    if out.dtype != y0.dtype:
        raise TypeError(
            f"{name}(t0, y0) returned dtype {out.dtype} but y0 is {y0.dtype}; return values "
            f"in the dtype of y (e.g. build {name}'s parameters in that dtype, or "
            f"convert y0 to {out.dtype})"
        )
    return out


def _check_drift(f0: object, y0: Tensor) -> None:
    f0 = _check_dtype("drift", f0, y0)
    if f0.shape != y0.shape:
        raise ValueError(
            f"drift(t0, y0) returned shape {tuple(f0.shape)} but y0 has shape "
            f"{tuple(y0.shape)}; drift(t, y) must return dy/dt with the shape of y"
        )


def _check_diffusion(g0: object, noise_type: str, y0: Tensor) -> int:
    """Check g(t0, y0)'s dtype and shape against the noise type; return the Brownian dim m."""
    g0 = _check_dtype("diffusion", g0, y0)
    batch, dim = y0.shape
    want = expected_diffusion_shape(noise_type, batch, dim, None)
    got = tuple(g0.shape)
    ok = len(got) == len(want) and all(w in (-1, g) for w, g in zip(want, got, strict=True))
    if not ok:
        raise ValueError(
            f"diffusion(t, y) for noise_type={noise_type!r} must return shape {want} "
            f"(-1: any Brownian dimension) for y of shape {tuple(y0.shape)}; got {got}. "
            "Return (batch, dim) for diagonal noise and (batch, dim, m) otherwise."
        )
    return dim if noise_type == "diagonal" else got[2]


def first_evaluations(
    drift: VectorField, diffusion: VectorField, noise_type: str, y0: Tensor, t0: Tensor
) -> int:
    """Evaluate drift and diffusion once at (t0, y0) without grad and check them.

    Returns:
        m, the Brownian dimension implied by the diffusion's shape.
    """
    with torch.no_grad():
        f0 = _evaluate("drift", drift, t0, y0)
        _check_drift(f0, y0)
        g0 = _evaluate("diffusion", diffusion, t0, y0)
    return _check_diffusion(g0, noise_type, y0)


def adjoint_param_owner(fn: object) -> nn.Module | None:
    """The module whose parameters ``fn`` uses: fn itself or the owner of a bound method."""
    if isinstance(fn, nn.Module):
        return fn
    owner = getattr(fn, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def check_adjoint_params(
    drift: VectorField,
    diffusion: VectorField,
    adjoint: bool,
    adjoint_params: Iterable[Tensor] | None,
) -> tuple[Tensor, ...]:
    """The extra tensors the stochastic adjoint differentiates, besides module parameters.

    ``sdeint_adjoint`` returns gradients only for the tensors it is told about; a tensor a
    plain function closes over would silently get ``.grad is None``. So, as for
    ``odenet.odeint(..., gradient="adjoint")``, a field that is not an ``nn.Module`` (or a
    bound method of one) needs ``adjoint_params`` listing the tensors it depends on.
    """
    if adjoint_params is not None and not adjoint:
        raise ValueError(
            "adjoint_params has no effect with adjoint=False (backprop finds every tensor); "
            "set adjoint=True or drop adjoint_params."
        )
    if adjoint_params is None:
        if adjoint:
            for name, fn in (("drift", drift), ("diffusion", diffusion)):
                if adjoint_param_owner(fn) is None:
                    raise ValueError(
                        f"adjoint=True needs the parameters of {name}, but {name} is a "
                        f"{type(fn).__name__}, not an nn.Module or a bound method of one, so "
                        f"tensors it closes over would silently get no gradient. Make {name} "
                        "an nn.Module, or pass the tensors it depends on explicitly "
                        "(adjoint_params=(w, b, ...), or adjoint_params=() when it has none)"
                    )
        return ()
    if isinstance(adjoint_params, Tensor):
        raise TypeError(
            "adjoint_params must be a sequence of tensors, not a single tensor; got a tensor "
            f"of shape {tuple(adjoint_params.shape)}. Pass adjoint_params=(w,)"
        )
    out = tuple(adjoint_params)
    for i, p in enumerate(out):
        if not isinstance(p, Tensor):
            raise TypeError(
                f"adjoint_params[{i}] must be a torch.Tensor; got {type(p).__name__}. Pass the "
                "tensors drift/diffusion depend on, e.g. adjoint_params=(w, b)"
            )
    return out
