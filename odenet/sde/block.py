"""SDEBlock: a neural SDE layer over ``torchsde.sdeint`` / ``torchsde.sdeint_adjoint``.

dy = f(t, y) dt + g(t, y) dW(t)   (Ito, or Stratonovich with ``sde_type="stratonovich"``)

References: Li, Wong, Chen & Duvenaud 2020, "Scalable gradients for stochastic
differential equations" (stochastic adjoint); Kidger, Foster, Li & Lyons 2021, "Efficient
and accurate gradients for neural SDEs" (reversible Heun, Brownian interval).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchsde
from torch import Tensor, nn

from odenet.sde.brownian import draw_seed, make_brownian
from odenet.sde.capabilities import SDEMethodInfo, check_method

VectorField = Callable[[Tensor, Tensor], Tensor]


class _TorchsdeFunc(nn.Module):
    """The object torchsde integrates: attributes ``noise_type``/``sde_type``, methods f, g."""

    def __init__(self, drift: VectorField, diffusion: VectorField, noise_type: str, sde_type: str):
        super().__init__()
        self.drift = drift
        self.diffusion = diffusion
        # Parameters of modules whose bound methods are the fields must be visible to
        # sdeint_adjoint, which differentiates w.r.t. self.parameters().
        owners = [getattr(fn, "__self__", None) for fn in (drift, diffusion)]
        self.owners = nn.ModuleList(
            dict.fromkeys(o for o in owners if isinstance(o, nn.Module)).keys()
        )
        self.noise_type = noise_type
        self.sde_type = sde_type

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        return self.drift(t, y)

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        return self.diffusion(t, y)


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


def _check_diffusion(g0: Tensor, noise_type: str, y0: Tensor, noise_size: int | None) -> int:
    """Check g(t0, y0)'s shape against the noise type; return the Brownian dimension m."""
    batch, dim = y0.shape
    want = expected_diffusion_shape(noise_type, batch, dim, noise_size)
    got = tuple(g0.shape)
    ok = len(got) == len(want) and all(w in (-1, g) for w, g in zip(want, got, strict=True))
    if not ok:
        raise ValueError(
            f"diffusion(t, y) for noise_type={noise_type!r} must return shape {want} "
            f"(-1: any Brownian dimension) for y of shape {tuple(y0.shape)}; got {got}. "
            "Return (batch, dim) for diagonal noise and (batch, dim, m) otherwise."
        )
    return dim if noise_type == "diagonal" else got[2]


def _check_y0(y0: Tensor) -> None:
    if not isinstance(y0, Tensor) or y0.dim() != 2:
        shape = tuple(y0.shape) if isinstance(y0, Tensor) else type(y0).__name__
        raise ValueError(
            f"y0 must be a tensor of shape (batch, dim); got {shape}. Flatten the state."
        )


def _check_ts(ts: Tensor) -> None:
    if ts.dim() != 1 or ts.numel() < 2:
        raise ValueError(f"ts must be a 1-D tensor with >= 2 times; got shape {tuple(ts.shape)}.")
    steps = ts[1:] - ts[:-1]
    if bool((steps <= 0).any()):
        i = int(torch.nonzero(steps <= 0)[0, 0]) + 1
        raise ValueError(
            f"ts must be strictly increasing (torchsde integrates forward in time); got "
            f"ts[{i}]={float(ts[i])} after ts[{i - 1}]={float(ts[i - 1])}."
        )


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
        dt: fixed step size.
        adjoint: if True, gradients by the stochastic adjoint (``sdeint_adjoint``, memory
            O(1) in the number of steps); with ``method="reversible_heun"`` the backward pass
            uses the algebraically reversible adjoint and reproduces backprop gradients up
            to round-off (Kidger et al. 2021) when the step grid is exact in floating point
            (dt = 2^-k and ts on the grid; with dt=0.05 the agreement is ~1e-4 relative).
        adjoint_method: solver for the adjoint SDE; None lets torchsde choose.
        t_span: (t0, t1) used when ``forward`` is called without ``ts``.
        seed: if an int, every call uses this Brownian path (common random numbers); if
            None, each call draws a fresh seed from torch's global generator, so
            ``torch.manual_seed`` makes runs reproducible.

    Shapes: ``forward(y0)`` with y0 (batch, dim) returns y(t1) (batch, dim);
    ``forward(y0, ts)`` returns the path (len(ts), batch, dim).
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
        t_span: tuple[float, float] = (0.0, 1.0),
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.info: SDEMethodInfo = check_method(method, sde_type, noise_type)
        if not dt > 0:
            raise ValueError(f"dt must be > 0; got dt={dt}.")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise TypeError(f"seed must be an int or None; got seed={seed!r}.")
        if not t_span[0] < t_span[1]:
            raise ValueError(f"t_span must satisfy t0 < t1; got t_span={t_span}.")
        if adjoint_method is not None and not adjoint:
            raise ValueError(
                f"adjoint_method={adjoint_method!r} has no effect with adjoint=False; "
                "set adjoint=True or drop adjoint_method."
            )
        self.adjoint_method = self._resolve_adjoint_method(adjoint_method, sde_type, noise_type)
        self.func = _TorchsdeFunc(drift, diffusion, noise_type, sde_type)
        self.method = self.info.name
        self.dt = float(dt)
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
        noise_size = self._noise_size(y0, ts)
        seed = self.seed if seed is None else seed
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
        with torch.no_grad():
            g0 = self.func.g(ts[0], y0)
        return _check_diffusion(g0, self.noise_type, y0, None)

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
        _check_y0(y0)
        path = ts is not None
        if ts is None:
            ts = torch.tensor(self.t_span, dtype=y0.dtype, device=y0.device)
        ts = torch.as_tensor(ts, dtype=y0.dtype, device=y0.device)
        _check_ts(ts)
        self._check_reversible_grid(ts)
        if bm is None:
            bm = self.brownian(y0, ts, seed)
        ys = self._solve(y0, ts, bm)
        return ys if path else ys[-1]

    def _solve(self, y0: Tensor, ts: Tensor, bm: torchsde.BrownianInterval) -> Tensor:
        kwargs = {"bm": bm, "method": self.method, "dt": self.dt}
        if not self.adjoint:
            return torchsde.sdeint(self.func, y0, ts, **kwargs)
        return torchsde.sdeint_adjoint(
            self.func, y0, ts, adjoint_method=self.adjoint_method, **kwargs
        )

    def extra_repr(self) -> str:
        return (
            f"sde_type={self.sde_type!r}, noise_type={self.noise_type!r}, method={self.method!r}, "
            f"dt={self.dt}, adjoint={self.adjoint}, t_span={self.t_span}, seed={self.seed}"
        )
