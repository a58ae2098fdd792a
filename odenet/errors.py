"""Exceptions raised by odenet's solvers.

Every exception carries the data a user needs to act on it (the time reached, the last
step size) as attributes, and its message says what to try next. Input errors are plain
``ValueError``/``TypeError`` subclasses so that code written for torchdiffeq that catches
those keeps working.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "CheckpointWriteError",
    "ConfigError",
    "DataFileError",
    "DataFilesMissing",
    "MaxStepsReached",
    "NewtonConvergenceError",
    "NonFiniteLoss",
    "NonFiniteState",
    "OdenetError",
    "RunDirLocked",
    "SamplesFailed",
    "SolverError",
    "StepSizeUnderflow",
    "StiffnessDetected",
    "TooManyEvents",
    "UsageError",
]


class OdenetError(Exception):
    """Base class of every exception odenet raises on its own account."""


class SolverError(OdenetError, RuntimeError):
    """A solve that started but could not finish.

    Attributes:
        t: the time the solver had reached (a Python float).
        dt: the last step size tried (a Python float, signed with the direction of time).
    """

    def __init__(self, message: str, *, t: float, dt: float) -> None:
        super().__init__(message)
        self.t = t
        self.dt = dt


class MaxStepsReached(SolverError):
    """The solver took ``max_steps`` steps (accepted plus rejected) before reaching the end."""

    def __init__(self, *, t: float, dt: float, max_steps: int, t_end: float) -> None:
        super().__init__(
            f"max_steps={max_steps} steps were taken and the solve only reached t={t:.6g} "
            f"of t_end={t_end:.6g} (last step size {dt:.3g}). Raise max_steps, loosen "
            "rtol/atol, or suspect a stiff problem (try a smaller time span or rescale the "
            "vector field).",
            t=t,
            dt=dt,
        )
        self.max_steps = max_steps
        self.t_end = t_end


class StepSizeUnderflow(SolverError):
    """The adaptive step size shrank below what floating point can resolve at ``t``."""

    def __init__(self, *, t: float, dt: float) -> None:
        super().__init__(
            f"step size underflow: the step size fell to {dt:.3g} at t={t:.12g}, below what "
            "float64 time can resolve there. Likely causes: a stiff problem (use a smaller "
            "time span, loosen rtol/atol, or rescale the field), NaN/inf produced by func "
            "near this time, or a discontinuity in func (pass its time in "
            "options={'jump_t': ...}).",
            t=t,
            dt=dt,
        )


class NonFiniteState(SolverError):
    """func produced NaN or inf and shrinking the step did not help."""

    def __init__(self, *, t: float, dt: float, detail: str = "") -> None:
        super().__init__(
            f"func returned NaN or inf near t={t:.12g} (last step size {dt:.3g}){detail}. "
            "Check func for overflow (e.g. exp of a large value), a division by zero or a "
            "singularity at this time, and check y0 and the parameters for NaN.",
            t=t,
            dt=dt,
        )


class NewtonConvergenceError(SolverError):
    """The Newton iteration of an implicit stage did not converge, even with a fresh
    Jacobian. Adaptive loops catch it and retry with a smaller step; on a fixed grid it is
    raised to the user."""

    def __init__(self, *, t: float, dt: float, detail: str = "") -> None:
        super().__init__(
            f"the Newton iteration of an implicit stage did not converge at t={t:.12g} with "
            f"step size {dt:.3g}{detail}. On a fixed grid use a smaller step_size (or an "
            "adaptive method such as 'kvaerno5'); otherwise check func for NaN/inf or a "
            "discontinuity near this time.",
            t=t,
            dt=dt,
        )


class SamplesFailed(OdenetError, RuntimeError):
    """Some samples of a ``batch_mode="independent"`` solve failed; the others finished.

    Attributes:
        indices: batch indices of the failed samples (ascending).
        statuses: their statuses (``"max_steps"``, ``"underflow"`` or ``"nonfinite"``).
        t_reached: the time each failed sample reached (Python floats).
        solution: the full :class:`~odenet.solving.solution.Solution` (outputs of failed samples
            past ``t_reached`` are NaN), as ``solve(..., on_failure="return")`` gives it.
    """

    def __init__(
        self,
        *,
        indices: list[int],
        statuses: list[str],
        t_reached: list[float],
        batch: int,
        solution: object,
    ) -> None:
        shown = ", ".join(
            f"{i} ({s} at t={t:.6g})"
            for i, s, t in zip(indices[:10], statuses[:10], t_reached[:10], strict=True)
        )
        more = f" and {len(indices) - 10} more" if len(indices) > 10 else ""
        super().__init__(
            f"{len(indices)} of {batch} samples failed: {shown}{more}. The other samples "
            "finished; pass on_failure='return' to get their results with per-sample "
            "status in solution.sample_status, or loosen rtol/atol / raise max_steps for "
            "the failed ones."
        )
        self.indices = tuple(indices)
        self.statuses = tuple(statuses)
        self.t_reached = tuple(t_reached)
        self.solution = solution


class UsageError(OdenetError):
    """A failure the user caused and can fix: a setting, a file, the machine.

    ``odenet-train`` and ``odenet-convert`` print it as one line on stderr,
    ``<command>: <kind>: <message>``, and exit with status 2 (the full traceback is shown
    when the environment variable ``HYDRA_FULL_ERROR=1`` is set). Subclasses name the
    ``kind``; the message names the setting or file, the value and the fix.
    """

    kind = "error"


class ConfigError(UsageError, ValueError):
    """A configuration value that cannot work; raised before training starts (or, on
    resume, before the checkpoint is loaded)."""

    kind = "config error"


class CheckpointError(UsageError, ValueError):
    """A checkpoint that cannot be used: missing, empty, truncated, a directory, holding
    objects other than tensors and plain data (refused: loading them could run code), or
    written for another model."""

    kind = "checkpoint error"


class DataFileError(UsageError, ValueError):
    """A data file that is not what its name says (wrong format, size or labels), or a
    pickled file holding objects other than the data (refused: loading them could run
    code)."""

    kind = "data error"


class DataFilesMissing(UsageError, FileNotFoundError):
    """The standard files of a data set are not under the data root (odenet never
    downloads data)."""

    kind = "data error"


class CheckpointWriteError(UsageError, OSError):
    """A checkpoint could not be written (e.g. the disk is full); the previous checkpoint
    at the same path is left intact."""

    kind = "checkpoint error"


class RunDirLocked(UsageError, RuntimeError):
    """Another process holds the lock of a run directory (two runs would both write it)."""

    kind = "run directory in use"


class NonFiniteLoss(UsageError, FloatingPointError):
    """Training diverged: the loss became NaN or inf, or the ODE solve of a training step
    failed (a NaN state, step-size underflow or max steps reached), as it does in an ODE
    model whose learning rate is too high."""

    kind = "training diverged"


class StiffnessDetected(SolverError):
    """An explicit method's steps are limited by stability, not accuracy: the problem is stiff.

    Raised by the adaptive loop after Hairer's test (``odenet.solvers.stiffness``) found
    ``h * rho`` (step size times the estimated dominant eigenvalue magnitude) at the edge
    of the method's stability interval on 15 tested steps in a row.

    Attributes:
        h_rho: the last estimate of ``h * rho``.
        boundary: the method's real stability boundary used as the threshold.
        steps: accepted steps taken when the test fired.
    """

    def __init__(
        self,
        *,
        t: float,
        dt: float,
        h_rho: float,
        boundary: float,
        steps: int = 0,
        method: str = "",
    ) -> None:
        name = f"method={method!r}" if method else "this explicit method"
        super().__init__(
            f"the problem looks stiff: near t={t:.6g} the step size of {name} is held at "
            f"{abs(dt):.3g} by stability (h*rho={h_rho:.3g} at the stability boundary "
            f"{boundary:.3g}) after {steps} accepted steps, not by accuracy, so finishing "
            "would take a very large number of steps. Use an implicit method: "
            "method='kvaerno5' or method='rodas5'. To keep the explicit method anyway, pass "
            "options={'stiffness_check': False}.",
            t=t,
            dt=dt,
        )
        self.h_rho = h_rho
        self.boundary = boundary
        self.steps = steps


class TooManyEvents(SolverError):
    """More than ``max_events`` event crossings in one solve (e.g. a Zeno bouncing ball)."""

    def __init__(self, *, t: float, max_events: int) -> None:
        super().__init__(
            f"{max_events} event crossings were handled and the solve only reached t={t:.6g}. "
            "Events are accumulating (a bouncing ball whose bounces shrink to zero, say): "
            "add a terminal event that stops the solve, or end the time span earlier.",
            t=t,
            dt=float("nan"),
        )
        self.max_events = max_events
