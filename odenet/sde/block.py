"""SDEBlock: a neural SDE layer over ``torchsde.sdeint`` / ``torchsde.sdeint_adjoint``.

dy = f(t, y) dt + g(t, y) dW(t)   (Ito, or Stratonovich with ``sde_type="stratonovich"``)

References: Li, Wong, Chen & Duvenaud 2020, "Scalable gradients for stochastic
differential equations" (stochastic adjoint); Kidger, Foster, Li & Lyons 2021, "Efficient
and accurate gradients for neural SDEs" (reversible Heun, Brownian interval).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
import torchsde
from torch import Tensor, nn

from odenet.sde.brownian import draw_seed, make_brownian
from odenet.sde.capabilities import SDEMethodInfo, check_method
from odenet.sde.checks import (
    adjoint_param_owner,
    check_adjoint_params,
    check_dt,
    check_ts,
    check_ts_dtype,
    check_y0,
    expected_diffusion_shape,
    first_evaluations,
)

__all__ = ["SDEBlock", "expected_diffusion_shape"]

VectorField = Callable[[Tensor, Tensor], Tensor]


class _TorchsdeFunc(nn.Module):
    """The object torchsde integrates: attributes ``noise_type``/``sde_type``, methods f, g."""

    def __init__(self, drift: VectorField, diffusion: VectorField, noise_type: str, sde_type: str):
        super().__init__()
        self.drift = drift
        self.diffusion = diffusion
        # Parameters of modules whose bound methods are the fields must be visible to
        # sdeint_adjoint, which differentiates w.r.t. self.parameters().
        # (Modules passed directly are registered by the attribute assignments above.)
        owners = [adjoint_param_owner(fn) for fn in (drift, diffusion)]
        self.owners = nn.ModuleList(
            dict.fromkeys(o for o in owners if o is not None and o not in (drift, diffusion))
        )
        self.noise_type = noise_type
        self.sde_type = sde_type

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        return self.drift(t, y)

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        return self.diffusion(t, y)


class SDEBlock(nn.Module):
    """A neural SDE layer: maps y(t0) to y(t1) (or the path at ``ts``) by solving
    dy = drift(t, y) dt + diffusion(t, y) dW with torchsde.

    Args:
        drift: callable (t, y) -> (batch, dim); t is a 0-d tensor, y is (batch, dim).
            nn.Modules, and modules whose bound methods are passed, are registered as
            submodules, so their parameters are trained and seen by the adjoint.
        diffusion: callable (t, y) -> (batch, dim) for ``noise_type="diagonal"`` (the
            diagonal of g), (batch, dim, 1) for "scalar", (batch, dim, m) for "additive"
            (g independent of y) and "general".
        noise_type: "diagonal", "scalar", "additive" or "general".
        sde_type: "ito" or "stratonovich" (the calculus in which drift is read).
        method: torchsde solver name ("euler", "milstein", "srk", "midpoint", "heun",
            "euler_heun", "log_ode", "reversible_heun") or None for torchsde's default.
            Unsupported combinations raise ValueError here, not inside torchsde; see
            :mod:`odenet.sde.capabilities` for the table.
        dt: fixed step size, a positive number.
        adjoint: if True, gradients by the stochastic adjoint (``sdeint_adjoint``, memory
            O(1) in the number of steps); with ``method="reversible_heun"`` the backward pass
            uses the algebraically reversible adjoint and reproduces backprop gradients up
            to round-off (Kidger et al. 2021) when the step grid is exact in floating point
            (dt = 2^-k and ts on the grid; with dt=0.05 the agreement is ~1e-4 relative).
            The adjoint differentiates only w.r.t. tensors it knows of: the parameters of
            drift/diffusion when they are nn.Modules (or bound methods of modules), plus
            ``adjoint_params``. A plain function or lambda therefore needs ``adjoint_params``
            (``()`` when it uses no trainable tensor), else ValueError -- as
            ``odenet.odeint(..., gradient="adjoint")`` requires ``params``.
        adjoint_method: solver for the adjoint SDE; None lets torchsde choose.
        adjoint_params: with adjoint=True, the tensors that plain-function drift/diffusion
            depend on (closures, globals), in addition to the parameters of module fields.
            They are not registered in the block: give them to the optimiser yourself.
        t_span: (t0, t1) used when ``forward`` is called without ``ts``.
        seed: if an int, every call uses this Brownian path (common random numbers); if
            None, each call draws a fresh seed from torch's global generator, so
            ``torch.manual_seed`` makes runs reproducible.

    Shapes: ``forward(y0)`` with y0 (batch, dim) returns y(t1) (batch, dim);
    ``forward(y0, ts)`` returns the path (len(ts), batch, dim).

    Each forward evaluates drift and diffusion once at (ts[0], y0) without grad to check
    their dtype and shape (a TypeError there gets a hint that they are called as f(t, y)).
    """

    def __init__(
        self,
        drift: VectorField,
        diffusion: VectorField,
        *,
        noise_type: str = "diagonal",
        sde_type: str = "ito",
        method: str | None = None,
        dt: float = 1e-2,
        adjoint: bool = False,
        adjoint_method: str | None = None,
        adjoint_params: Iterable[Tensor] | None = None,
        t_span: tuple[float, float] = (0.0, 1.0),
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.info: SDEMethodInfo = check_method(method, sde_type, noise_type)
        dt = check_dt(dt)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise TypeError(f"seed must be an int or None; got seed={seed!r}.")
        if not (math.isfinite(t_span[0]) and math.isfinite(t_span[1])):
            raise ValueError(f"t_span must hold finite times; got t_span={t_span}.")
        if not t_span[0] < t_span[1]:
            raise ValueError(f"t_span must satisfy t0 < t1; got t_span={t_span}.")
        if adjoint_method is not None and not adjoint:
            raise ValueError(
                f"adjoint_method={adjoint_method!r} has no effect with adjoint=False; "
                "set adjoint=True or drop adjoint_method."
            )
        self.adjoint_method = self._resolve_adjoint_method(adjoint_method, sde_type, noise_type)
        self.extra_adjoint_params = check_adjoint_params(drift, diffusion, adjoint, adjoint_params)
        self.func = _TorchsdeFunc(drift, diffusion, noise_type, sde_type)
        self.method = self.info.name
        self.dt = dt
        self.adjoint = bool(adjoint)
        self.t_span = (float(t_span[0]), float(t_span[1]))
        self.seed = seed

    def _resolve_adjoint_method(
        self, adjoint_method: str | None, sde_type: str, noise_type: str
    ) -> str | None:
        if adjoint_method is None:
            return self.info.default_adjoint
        if adjoint_method == "adjoint_reversible_heun":
            if self.info.name != "reversible_heun":
                raise ValueError(
                    "adjoint_method='adjoint_reversible_heun' is the backward pass of "
                    f"method='reversible_heun' only; got method={self.info.name!r}."
                )
            return adjoint_method
        # The adjoint of additive noise is general noise (torchsde AdjointSDE).
        adjoint_noise = "general" if noise_type == "additive" else noise_type
        return check_method(adjoint_method, sde_type, adjoint_noise).name

    @property
    def noise_type(self) -> str:
        return self.func.noise_type

    @property
    def sde_type(self) -> str:
        return self.func.sde_type

    def brownian(
        self, y0: Tensor, ts: Tensor, seed: int | None = None
    ) -> torchsde.BrownianInterval:
        """The Brownian motion a call ``forward(y0, ts, seed=seed)`` would use."""
        check_y0(y0)
        seed = self.seed if seed is None else seed
        return self._brownian_of_size(y0, ts, self._noise_size(y0, ts), seed)

    def _brownian_of_size(
        self, y0: Tensor, ts: Tensor, noise_size: int, seed: int | None
    ) -> torchsde.BrownianInterval:
        return make_brownian(
            float(ts[0]),
            float(ts[-1]),
            y0.shape[0],
            noise_size,
            seed=draw_seed() if seed is None else seed,
            dtype=y0.dtype,
            device=y0.device,
            levy_area=self.info.levy_area,
            dt=self.dt,
        )

    def _noise_size(self, y0: Tensor, ts: Tensor) -> int:
        """Check the first drift and diffusion evaluations; return the Brownian dim m."""
        return first_evaluations(self.func.drift, self.func.diffusion, self.noise_type, y0, ts[0])

    def _check_reversible_grid(self, ts: Tensor) -> None:
        if not (self.adjoint and self.method == "reversible_heun"):
            return
        n = (ts - ts[0]) / self.dt
        if not torch.allclose(n, n.round()):  # torchsde's own test (default tolerances)
            raise ValueError(
                "method='reversible_heun' with adjoint=True needs every ts[i]-ts[0] to be a "
                f"multiple of dt={self.dt} (else the backward pass cannot retrace the forward "
                f"steps); got ts={ts.tolist()}. Choose dt dividing the spacing of ts."
            )

    def forward(
        self,
        y0: Tensor,
        ts: Tensor | None = None,
        *,
        seed: int | None = None,
        bm: torchsde.BrownianInterval | None = None,
    ) -> Tensor:
        """Solve from y0 (batch, dim).

        Args:
            y0: initial state (batch, dim).
            ts: increasing 1-D times, ts[0] the time of y0; None means ``t_span``.
            seed: overrides the block's seed for this call.
            bm: a Brownian motion of shape (batch, m) to use instead of a seeded one.

        Returns:
            (len(ts), batch, dim) if ts is given, else y(t1) of shape (batch, dim).
        """
        check_y0(y0)
        check_ts_dtype(ts)
        path = ts is not None
        if ts is None:
            ts = torch.tensor(self.t_span, dtype=y0.dtype, device=y0.device)
        ts = torch.as_tensor(ts, dtype=y0.dtype, device=y0.device)
        check_ts(ts)
        self._check_reversible_grid(ts)
        noise_size = self._noise_size(y0, ts)
        if bm is None:
            bm = self._brownian_of_size(y0, ts, noise_size, self.seed if seed is None else seed)
        elif tuple(bm.shape) != (y0.shape[0], noise_size):
            raise ValueError(
                f"bm must have shape (batch, m) = {(y0.shape[0], noise_size)} for y0 of shape "
                f"{tuple(y0.shape)} and this diffusion; got {tuple(bm.shape)}. Build it with "
                "block.brownian(y0, ts)"
            )
        ys = self._solve(y0, ts, bm)
        return ys if path else ys[-1]

    def _solve(self, y0: Tensor, ts: Tensor, bm: torchsde.BrownianInterval) -> Tensor:
        kwargs = {"bm": bm, "method": self.method, "dt": self.dt}
        if not self.adjoint:
            return torchsde.sdeint(self.func, y0, ts, **kwargs)
        params = [p for p in self.func.parameters() if p.requires_grad]
        params += [p for p in self.extra_adjoint_params if p.requires_grad]
        return torchsde.sdeint_adjoint(
            self.func,
            y0,
            ts,
            adjoint_method=self.adjoint_method,
            adjoint_params=tuple(dict.fromkeys(params)),
            **kwargs,
        )

    def extra_repr(self) -> str:
        return (
            f"sde_type={self.sde_type!r}, noise_type={self.noise_type!r}, method={self.method!r}, "
            f"dt={self.dt}, adjoint={self.adjoint}, t_span={self.t_span}, seed={self.seed}"
        )
