"""Simplified Newton iterations for the stages of implicit Runge--Kutta methods.

A block of ``m`` coupled stages (``m = 1`` for a diagonally implicit stage, ``m = s`` for a
fully implicit method) solves, for the stage values ``Z = (Z_1..Z_m)``::

    Z_i = psi_i + sum_j (hA)_ij f(t_j, Z_j)

with the simplified Newton iteration (Hairer & Wanner, *Solving ODEs II*, §IV.8)::

    (I - hA ⊗ J) ΔZ = -(Z - psi - (hA ⊗ I) F(Z)),     Z <- Z + ΔZ

where ``J ≈ ∂f/∂y`` is evaluated once at the start of a step and kept for later steps while
the iterations contract fast, and the LU factorisation of ``I - hA ⊗ J`` is reused for every
iteration and every stage with the same ``hA``. Convergence follows the rate estimate
``θ_k = ||ΔZ_k|| / ||ΔZ_{k-1}||``: the iteration stops when ``θ/(1-θ) ||ΔZ_k|| <= κ`` in the
solve's error norm (``atol + rtol |y|``), and fails when ``θ >= 1`` or when the rate predicts
that ``max_iters`` iterations will not suffice. Every loop is bounded.

One :class:`NewtonSolver` lives for one solve (it holds the Jacobian, the factorisations and
counters); :meth:`NewtonSolver.solve` returns per-row success flags, so a per-sample loop can
reject only the samples that failed.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from .jacobian import LUFactor, batched_jacobian
from .krylov import KrylovOperator
from .newton_layout import from_rows, stage_sum, to_rows

__all__ = ["NewtonOptions", "NewtonSolver", "NewtonStats", "from_rows", "to_rows"]

JacobianChoice = Literal["auto", "batch", "full"]


@dataclass(frozen=True)
class NewtonOptions:
    """Settings of the stage solves.

    Attributes:
        jacobian: ``"batch"`` (per-sample blocks ``(B, n, n)``: sample ``b`` of the field
            depends on ``y[b]`` only), ``"full"`` (one ``(N, N)`` system) or ``"auto"``
            (per-sample blocks when one vector-Jacobian product shows sample 0 independent
            of the others, else full; a 0-d or 1-d state is one system).
        ad: ``"rev"``, ``"fwd"`` or ``"fd"`` (finite differences) for the Jacobian.
        max_iters: Newton iterations per stage solve.
        kappa: the iteration stops at ``η ||ΔZ|| <= kappa`` in the scaled norm.
        jac_rate: a convergence rate above this marks the Jacobian for re-evaluation at the
            next step (Hairer's ``thet``; smaller means fresher Jacobians).
        linear_solver: ``"direct"`` (Jacobian blocks and LU), ``"krylov"`` (matrix-free
            GMRES on Jacobian-vector products, :mod:`.krylov`) or ``"auto"``: Krylov when
            one system (a sample in batch mode, the whole state in full mode) has more than
            ``krylov_above`` components.
        rtol, atol: tolerances of the norm; ``None`` takes those of the solve (adaptive
            loops) or ``1e-9``/``1e-11`` on fixed grids; ``rtol`` is floored at
            ``20 eps / kappa`` (the test must stay above rounding).
    """

    jacobian: JacobianChoice = "auto"
    ad: Literal["rev", "fwd", "fd"] = "rev"
    max_iters: int = 10
    kappa: float = 0.05
    jac_rate: float = 0.1
    rtol: float | None = None
    atol: float | None = None
    linear_solver: Literal["auto", "direct", "krylov"] = "auto"
    krylov_above: int = 1024

    def __post_init__(self) -> None:
        if self.linear_solver not in ("auto", "direct", "krylov"):
            raise ValueError(
                f"linear_solver must be 'auto', 'direct' or 'krylov'; got {self.linear_solver!r}"
            )
        if self.jacobian not in ("auto", "batch", "full"):
            raise ValueError(f"jacobian must be 'auto', 'batch' or 'full'; got {self.jacobian!r}")
        if self.ad not in ("rev", "fwd", "fd"):
            raise ValueError(f"ad must be 'rev', 'fwd' or 'fd'; got {self.ad!r}")
        if not isinstance(self.max_iters, int) or self.max_iters < 1:
            raise ValueError(f"max_iters must be a positive int; got {self.max_iters!r}")
        for name in ("kappa", "jac_rate"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must lie in (0, 1); got {value!r}")


@dataclass
class NewtonStats:
    """Counters of one solve: Jacobian evaluations, LU factorisations, Newton iterations,
    stage solves, failed stage solves, Jacobian-vector products (Krylov path), and how the
    Jacobian was represented."""

    n_jacobians: int = 0
    n_lu: int = 0
    n_iterations: int = 0
    n_solves: int = 0
    n_failures: int = 0
    n_matvecs: int = 0  # Jacobian-vector products of the Krylov path
    jacobian_mode: str = ""  # "batch" (per-sample blocks), "full" or "krylov"

    def as_dict(self) -> dict[str, int | str]:
        return dict(self.__dict__)


@dataclass
class _Cache:
    jac: Tensor | None = None
    fresh: bool = False
    refresh: bool = True
    lus: OrderedDict[object, LUFactor] = field(default_factory=OrderedDict)


class NewtonSolver:
    """Jacobian, LU factorisations and counters of one solve.

    Args:
        options: :class:`NewtonOptions`.
        per_sample: measure convergence per sample (``batch_mode="independent"``) instead
            of over the whole state; also forces per-sample Jacobian blocks.
        rtol, atol: the solve's tolerances (``None`` on fixed grids).
    """

    def __init__(
        self,
        options: NewtonOptions,
        per_sample: bool = False,
        rtol: float | None = None,
        atol: float | None = None,
    ) -> None:
        self.options = options
        self.per_sample = per_sample
        self.fixed_grid = rtol is None  # no tolerances from an adaptive loop
        self.rtol = options.rtol if options.rtol is not None else rtol
        self.atol = options.atol if options.atol is not None else atol
        self.mode: str | None = "batch" if per_sample else None
        self.krylov: bool | None = None
        self._point: tuple[Callable[..., Tensor], object, Tensor] | None = None
        self.stats = NewtonStats()
        self.eta = 1.0
        self.theta_max = 0.0
        self.step_count = 0
        self.memo: dict[str, bool] = {}  # facts about the field learnt during the solve
        self._cache = _Cache()
        self._scale: Tensor | None = None

    # -- Jacobian ----------------------------------------------------------------------
    def _resolve_mode(self, field: Callable[..., Tensor], t: object, y: Tensor) -> str:
        choice = self.options.jacobian
        if choice != "auto":
            return choice
        if y.dim() <= 1 or y.shape[0] == 1:
            return "full"
        return "batch" if _samples_independent(field, t, y) else "full"

    def begin_step(self, field: Callable[..., Tensor], t: object, y: Tensor) -> None:
        """Start a step from ``(t, y)``: set the norm's scale and re-evaluate the Jacobian
        when it is missing or was marked stale by slow convergence."""
        # floor: kappa * rtol must stay above rounding (20 eps), or the test cannot pass
        floor = 20 * torch.finfo(y.dtype).eps / self.options.kappa
        rtol = max(self.rtol if self.rtol is not None else 1e-9, floor)
        atol = max(self.atol if self.atol is not None else 1e-11, floor * 1e-3)
        with torch.no_grad():
            self._scale = y.detach().abs().mul(rtol).add_(atol)
        self.theta_max = 0.0
        self.step_count += 1
        if self._cache.jac is None or self._cache.refresh:
            self.update_jacobian(field, t, y)
        else:
            self._cache.fresh = False

    def update_jacobian(self, field: Callable[..., Tensor], t: object, y: Tensor) -> None:
        """Evaluate ``∂f/∂y`` at ``(t, y)`` and drop the factorisations built on the old one."""
        if self.mode is None:
            self.mode = self._resolve_mode(field, t, y)
        if self.krylov is None:
            size = y.numel() if self.mode == "full" else y[0].numel()
            choice = self.options.linear_solver
            self.krylov = choice == "krylov" or (
                choice == "auto" and size > self.options.krylov_above
            )
        self.stats.jacobian_mode = "krylov" if self.krylov else self.mode
        if self.krylov:  # matrix-free: remember the linearisation point only
            self._point = (field, t, y.detach())
            self.stats.n_jacobians += 1
            self._cache.jac = y
            self._cache.fresh = True
            self._cache.refresh = False
            self._cache.lus.clear()
            return
        jac = batched_jacobian(field, t, y, mode=self.mode, ad=self.options.ad)  # type: ignore[arg-type]
        self.stats.n_jacobians += 1
        self._cache.jac = jac
        self._cache.fresh = True
        self._cache.refresh = False
        self._cache.lus.clear()

    @property
    def jacobian_is_fresh(self) -> bool:
        """True when the Jacobian was evaluated at the start of the current step."""
        return self._cache.fresh

    def lu(self, h_a: Tensor | float, key: object) -> LUFactor:
        """The factorisation of ``I - hA ⊗ J`` (cached under ``key``; ``None``: not cached)."""
        cache = self._cache
        if key is not None and key in cache.lus:
            return cache.lus[key]
        assert cache.jac is not None  # begin_step ran
        if self.krylov:
            assert self._point is not None and self.mode is not None
            fld, t, y = self._point
            m = h_a.shape[-1] if isinstance(h_a, Tensor) and h_a.dim() >= 2 else 1
            op = KrylovOperator(fld, t, y, h_a, m, self.mode, stats=self.stats)
            if key is not None:
                cache.lus[key] = op  # type: ignore[assignment]
            return op  # type: ignore[return-value]
        jac = cache.jac
        if isinstance(h_a, Tensor) and h_a.dim() == 1:  # per-sample scalar h*gamma
            eye = torch.eye(jac.shape[-1], dtype=jac.dtype, device=jac.device)
            lu = LUFactor(eye - h_a.to(jac.dtype)[:, None, None] * jac)
        else:
            lu = LUFactor.newton(jac, h_a)
        self.stats.n_lu += 1
        if key is not None:
            cache.lus[key] = lu
            while len(cache.lus) > 4:
                cache.lus.popitem(last=False)
        return lu

    def end_step(self) -> None:
        """After a step's stage solves: slow convergence marks the Jacobian as stale."""
        if self.theta_max > self.options.jac_rate:
            self._cache.refresh = True

    def mark_stale(self) -> None:
        self._cache.refresh = True

    # -- norms -------------------------------------------------------------------------
    def _norm(self, delta: Tensor) -> Tensor:
        """Scaled RMS norm of ``delta`` ``(m, B, *state)``: ``(B,)`` per sample, else ``(1,)``."""
        assert self._scale is not None
        r = (delta / self._scale).square()
        if self.per_sample:
            return r.transpose(0, 1).reshape(r.shape[1], -1).mean(1).sqrt()
        return r.mean().sqrt().reshape(1)

    # -- the iteration -----------------------------------------------------------------
    def solve(
        self,
        field: Callable[..., Tensor],
        times: Sequence[object],
        psi: Tensor,
        z0: Tensor,
        h_a: Tensor | float,
        lu_key: object,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Solve ``Z = psi + (hA ⊗ I) F(Z)`` by simplified Newton, without a graph.

        Args:
            field: ``field(t, y)``.
            times: the ``m`` stage times (floats, or ``(B,)`` tensors per sample).
            psi: ``(m, B, *state)`` explicit part; ``z0``: the same shape, initial guess.
            h_a: ``hγ`` (float, ``m = 1``), ``(m, m)`` or per-sample ``(B,)``/``(B, m, m)``.
            lu_key: cache key of the factorisation (``None``: factor afresh).

        Returns:
            ``(Z, F, ok)``: the stage values, ``F(Z_prev)`` from the last iteration (equal to
            ``F(Z)`` for samples with ``h = 0``) and success flags ``(B,)`` per sample or
            ``(1,)``.
        """
        opts = self.options
        lu = self.lu(h_a, lu_key)
        mode = self.mode
        assert mode is not None
        if not self.per_sample:
            return self._solve_joint(field, times, psi, z0, h_a, lu)
        with torch.no_grad():
            z = z0.detach().clone()
            psi = psi.detach()
            rows = z.shape[1] if self.per_sample else 1
            dev = z.device
            ok = torch.zeros(rows, dtype=torch.bool, device=dev)
            failed = torch.zeros(rows, dtype=torch.bool, device=dev)
            eta = torch.full((rows,), max(self.eta, 1e-16) ** 0.8, dtype=torch.float64, device=dev)
            prev: Tensor | None = None
            f = z
            theta_seen = 0.0
            for k in range(opts.max_iters):
                f = torch.stack([field(ti, zi) for ti, zi in zip(times, z, strict=True)])
                resid = z - psi - stage_sum(h_a, f)
                delta = from_rows(lu.solve(to_rows(resid, mode)), z, mode).neg_()
                nrm = self._norm(delta).to(torch.float64)
                self.stats.n_iterations += 1
                finite = torch.isfinite(nrm)
                if prev is not None:
                    theta = nrm / prev.clamp(min=1e-300)
                    active = ~ok & ~failed
                    if bool(active.any()):
                        theta_seen = max(theta_seen, float(theta[active].max()))
                    diverge = (theta >= 1.0) & (nrm > 1e-3 * opts.kappa)
                    eta = theta / (1.0 - theta.clamp(max=0.999999))
                    hopeless = (
                        theta.clamp(max=0.999999) ** (opts.max_iters - 1 - k) * eta * nrm
                        > 10 * opts.kappa
                    ) & (k + 1 < opts.max_iters)
                    failed |= ~ok & (diverge | hopeless)
                failed |= ~finite
                step = ~ok & ~failed
                z = torch.where(_rows_to(step, z, self.per_sample), z + delta, z)
                rate_ok = (eta * nrm <= opts.kappa) & (k > 0)  # the rate needs two iterations
                ok |= step & (rate_ok | (nrm <= 1e-3 * opts.kappa))
                if bool((ok | failed).all()):
                    break
                prev = nrm
            ok &= ~failed
            self.theta_max = max(self.theta_max, theta_seen)
            if bool(ok.all()):
                self.eta = float(eta.max()) if prev is not None else self.eta
            self.stats.n_solves += 1
            if not bool(ok.all()):
                self.stats.n_failures += 1
        return z, f, ok

    def _solve_joint(
        self,
        field: Callable[..., Tensor],
        times: Sequence[object],
        psi: Tensor,
        z0: Tensor,
        h_a: Tensor | float,
        lu: LUFactor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`solve` with one convergence test for the whole state: the rate logic runs
        on Python floats (one host synchronisation per iteration)."""
        opts, mode = self.options, self.mode
        assert mode is not None and self._scale is not None
        kappa, max_iters = opts.kappa, opts.max_iters
        scale = self._scale
        ok = False
        eta = max(self.eta, 1e-16) ** 0.8
        prev = math.nan
        theta_seen = 0.0
        with torch.no_grad():
            z = z0.detach()
            psi = psi.detach()
            f = z
            for k in range(max_iters):
                if len(times) == 1:
                    f = field(times[0], z[0]).unsqueeze(0)
                else:
                    f = torch.stack([field(ti, zi) for ti, zi in zip(times, z, strict=True)])
                resid = z - psi - stage_sum(h_a, f)
                delta = from_rows(lu.solve(to_rows(resid, mode)), z, mode)
                nrm = float(torch.linalg.vector_norm(delta / scale)) / math.sqrt(delta.numel())
                self.stats.n_iterations += 1
                if not math.isfinite(nrm):
                    break
                z = z - delta
                if k > 0:
                    theta = nrm / max(prev, 1e-300)
                    theta_seen = max(theta_seen, theta)
                    if theta >= 1.0 and nrm > 1e-3 * kappa:
                        break  # diverging
                    theta = min(theta, 0.999999)
                    eta = theta / (1.0 - theta)
                    if eta * nrm <= kappa or nrm <= 1e-3 * kappa:
                        ok = True
                        break
                    if theta ** (max_iters - 1 - k) * eta * nrm > 10 * kappa:
                        break  # too slow to converge within max_iters
                elif nrm <= 1e-3 * kappa:  # a second iteration measures the rate
                    ok = True
                    break
                prev = nrm
        self.theta_max = max(self.theta_max, theta_seen)
        if ok and k > 0:
            self.eta = eta
        self.stats.n_solves += 1
        if not ok:
            self.stats.n_failures += 1
        return z, f, torch.tensor([ok], device=z.device)

    def solve_full(
        self,
        field: Callable[..., Tensor],
        times: Sequence[object],
        psi: Tensor,
        z0: Tensor,
        h_a: Tensor | float,
        max_iters: int = 30,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Full Newton (the Jacobian re-evaluated at every iterate, at the last stage's
        point) for the whole state: slower per iteration, converges from farther away.
        The fallback of fixed grids, which cannot shrink the step."""
        assert self._scale is not None
        kappa = self.options.kappa
        ok = False
        with torch.no_grad():
            z = z0.detach()
            psi = psi.detach()
            f = z
            for k in range(max_iters):
                self.update_jacobian(field, times[-1], z[-1])
                assert self.mode is not None
                lu = self.lu(h_a, None)
                f = torch.stack([field(ti, zi) for ti, zi in zip(times, z, strict=True)])
                resid = z - psi - stage_sum(h_a, f)
                delta = from_rows(lu.solve(to_rows(resid, self.mode)), z, self.mode)
                nrm = float(torch.linalg.vector_norm(delta / self._scale))
                nrm /= math.sqrt(delta.numel())
                self.stats.n_iterations += 1
                if not math.isfinite(nrm):
                    break
                z = z - delta
                if nrm <= kappa and k > 0:
                    ok = True
                    break
        self.stats.n_solves += 1
        if not ok:
            self.stats.n_failures += 1
        rows = z.shape[1] if self.per_sample else 1
        return z, f, torch.full((rows,), ok, dtype=torch.bool, device=z.device)


def _rows_to(m: Tensor, like: Tensor, per_sample: bool) -> Tensor:
    """Row flags ``(B,)``/``(1,)`` broadcast against stacked stages ``(m, B, *state)``."""
    if per_sample:
        return m.reshape(1, m.shape[0], *([1] * (like.dim() - 2)))
    return m.reshape(*([1] * like.dim()))


def _samples_independent(field: Callable[..., Tensor], t: object, y: Tensor) -> bool:
    """One vector-Jacobian product: does sample 0 of ``field(t, y)`` ignore the others?"""
    with torch.enable_grad():
        z = y.detach().requires_grad_(True)
        out = field(t, z)
        if not out.requires_grad:  # no graph to y (e.g. the field detaches it)
            return False
        cot = torch.zeros_like(out)
        cot[0] = 1.0
        (g,) = torch.autograd.grad(out, z, cot, allow_unused=True)
    if g is None:  # no graph to y (e.g. the field detaches it): independence unknown
        return False
    return bool((g[1:] == 0).all()) and math.prod(y.shape[1:]) > 0
