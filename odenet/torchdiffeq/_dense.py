"""``odeint_dense``: torchdiffeq's dense-output solve, on odenet's :class:`~odenet.Solution`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from ..solving.odeint import solve
from ._errors import TorchdiffeqInputError
from ._inputs import check_inputs
from ._norms import state_norm
from ._options import translate, valid_core_options

__all__ = ["odeint_dense"]


def odeint_dense(
    func: Callable[[Tensor, Tensor], Tensor],
    y0: Tensor,
    t0: Tensor,
    t1: Tensor,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    method: str | None = None,
    options: Mapping[str, object] | None = None,
) -> Callable[[Tensor], Tensor]:
    """Solve from ``t0`` to ``t1`` and return ``dense(t_eval)``, the solution anywhere in
    between (``t_eval`` a 0-d or 1-D tensor; ``(*y0.shape)`` or ``(len(t_eval), *y0.shape)``).

    torchdiffeq allows ``method="dopri5"`` only; here any adaptive method works, with its own
    continuous extension (fourth order for dopri5, tsit5 and dopri8; cubic Hermite otherwise).
    """
    if not isinstance(y0, Tensor):
        raise TorchdiffeqInputError("odeint_dense takes a tensor y0 (not a tuple)")
    t = torch.stack([torch.as_tensor(t0), torch.as_tensor(t1)]).to(y0.device)
    inputs = check_inputs(y0, t, rtol, atol)
    opts = dict(options) if options is not None else {}
    tr = translate(method, opts, event=False)
    if not tr.method.adaptive:
        raise ValueError(f"odeint_dense needs an adaptive method such as 'dopri5'; got {method!r}")
    core = dict(tr.options)
    if "norm" in valid_core_options(tr.method):
        core["norm"] = state_norm(opts.get("norm"), None)  # type: ignore[arg-type]
    sol = solve(
        func, y0, inputs.t, method=tr.method, rtol=float(rtol), atol=float(atol), options=core,
        dense=True,
    )  # fmt: skip

    def dense_output_fn(t_eval: Any) -> Tensor:
        return sol.evaluate(t_eval)  # type: ignore[return-value]

    return dense_output_fn
