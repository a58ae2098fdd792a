"""Input checks for :func:`odenet.solve`, one small function per argument.

Each raises ``TypeError``/``ValueError`` with a message naming the argument, the value
received and the fix.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..solvers import Method, PIController, get_method, rms_norm
from ..solvers.integrate import AdaptiveConfig

__all__ = [
    "FlatState",
    "check_differentiable",
    "check_func",
    "check_method",
    "check_options",
    "check_precision",
    "check_t",
    "check_time_resolution",
    "check_tolerance",
    "check_y0",
    "fixed_grid",
]

DEFAULT_MAX_STEPS = 100_000

ADAPTIVE_OPTIONS = frozenset(
    {
        "first_step",
        "safety",
        "ifactor",
        "dfactor",
        "beta",
        "max_num_steps",
        "step_t",
        "jump_t",
        "norm",
        "dt_min",
        "dt_max",
        "on_step",
        "on_accept",
        "on_reject",
        "stiffness_check",
    }
)
#: step hooks ``hook(t0, y0, dt)`` (0-d tensors in the state's dtype and the loop's state)
STEP_HOOKS = frozenset({"on_step", "on_accept", "on_reject"})
FIXED_OPTIONS = frozenset(
    {"step_size", "n_steps", "max_num_steps", "grid", "perturb", "interp", "on_step"}
)
#: outputs between the grid points of a fixed-step method
FIXED_INTERPOLANTS = ("hermite", "linear")


@dataclass(frozen=True)
class FlatState:
    """``y0`` as one tensor the loops can step, plus how to give the user's shape back.

    A plain tensor is stepped as is (``(*batch, *state)``); a tuple is flattened and
    concatenated into one vector, as torchdiffeq does.
    """

    y0: Tensor
    shapes: tuple[torch.Size, ...] | None  # None: a single tensor, kept in its shape

    @property
    def is_tuple(self) -> bool:
        return self.shapes is not None

    def unpack(self, flat: Tensor) -> Tensor | tuple[Tensor, ...]:
        """Inverse of the flattening, for ``flat`` of shape ``(*lead, total)``."""
        if self.shapes is None:
            return flat
        lead = flat.shape[:-1]
        sizes = [math.prod(s) for s in self.shapes]
        parts = torch.split(flat, sizes, dim=-1)
        return tuple(p.reshape((*lead, *s)) for p, s in zip(parts, self.shapes, strict=True))

    def pack(self, state: Sequence[Tensor]) -> Tensor:
        return torch.cat([s.reshape(-1) for s in state])


def check_func(func: object) -> None:
    if not callable(func):
        raise TypeError(f"func must be callable as func(t, y) -> dy/dt; got {type(func).__name__}")


def _check_one_y0(y: object, name: str) -> Tensor:
    if not isinstance(y, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(y).__name__}")
    if not torch.is_floating_point(y):
        raise TypeError(
            f"{name} must have a floating-point dtype; got {y.dtype}. Convert it, e.g. "
            f"{name}.to(torch.float32)"
        )
    if not all_finite(y):
        raise ValueError(f"{name} contains NaN or inf; the initial state must be finite")
    return y


def all_finite(x: Tensor) -> bool:
    """Whether every entry of the floating tensor ``x`` is finite (one host sync).

    Tested on the sum first: a finite sum means no entry is inf or NaN (either would make
    it inf or NaN). Only a non-finite sum (which finite entries can also give, by
    overflow) is settled entry by entry. On the CPU ``torch.isfinite`` is about 6x
    slower than a sum (38 vs 6 us for 8192 float32 entries).
    """
    with torch.no_grad():
        if math.isfinite(float(x.sum())):
            return True
        return bool(torch.isfinite(x).all())


def check_y0(y0: object) -> FlatState:
    """A tensor ``(*batch, *state)`` or a non-empty tuple of tensors of one dtype/device."""
    if isinstance(y0, Tensor):
        return FlatState(_check_one_y0(y0, "y0"), None)
    if isinstance(y0, (tuple, list)) and y0:
        parts = [_check_one_y0(y, f"y0[{i}]") for i, y in enumerate(y0)]
        for i, y in enumerate(parts[1:], start=1):
            if y.dtype != parts[0].dtype or y.device != parts[0].device:
                raise TypeError(
                    f"all tensors of a tuple y0 must share dtype and device; y0[0] is "
                    f"{parts[0].dtype} on {parts[0].device} but y0[{i}] is {y.dtype} on "
                    f"{y.device}"
                )
        flat = FlatState(torch.cat([y.reshape(-1) for y in parts]), tuple(y.shape for y in parts))
        return flat
    raise TypeError(f"y0 must be a tensor or a non-empty tuple of tensors; got {type(y0).__name__}")


def check_t(t: object, y0: Tensor, open_end: bool = False) -> list[float]:
    """1-D, at least 2 entries, floating point, finite, on y0's device, strictly monotonic.

    With ``open_end`` (a terminal event is searched), the last entry may be ``inf`` or
    ``-inf``: the solve runs until the event, with no end time.
    """
    if not isinstance(t, Tensor):
        raise TypeError(
            f"t must be a 1-D torch.Tensor of times; got {type(t).__name__}. "
            "Use e.g. torch.linspace(0, 1, 10)"
        )
    if t.dim() != 1:
        raise ValueError(f"t must be 1-D; got shape {tuple(t.shape)}. Flatten it: t.reshape(-1)")
    if t.numel() < 2:
        raise ValueError(
            f"t must hold at least 2 times (start and end); got {t.numel()}: {t.tolist()}"
        )
    if not torch.is_floating_point(t):
        raise TypeError(f"t must be floating point; got {t.dtype}. Use t.to(torch.float64)")
    if t.device != y0.device:
        raise ValueError(
            f"t is on {t.device} but y0 is on {y0.device}; move them to one device, "
            f"e.g. t = t.to(y0.device)"
        )
    times = [float(x) for x in t.detach().cpu().tolist()]
    for i, x in enumerate(times):
        if math.isinf(x) and open_end and i == len(times) - 1 and i > 0:
            continue
        if not math.isfinite(x):
            hint = " (only t[-1] may be +-inf, and only with event_fn)" if math.isinf(x) else ""
            raise ValueError(f"t must be finite; got t[{i}]={x}{hint}")
    increasing = times[1] > times[0]
    for i in range(1, len(times)):
        ok = times[i] > times[i - 1] if increasing else times[i] < times[i - 1]
        if not ok:
            kind = "increasing" if increasing else "decreasing"
            hint = ""
            if times[i] == times[i - 1] and t.dtype != torch.float64:
                hint = (
                    f"; if you meant distinct times, {t.dtype} cannot tell them apart near "
                    f"{times[i]:.6g}: build t in float64"
                )
            raise ValueError(
                f"t must be strictly increasing or decreasing; got t[{i}]={times[i]} after "
                f"t[{i - 1}]={times[i - 1]} (t is {kind} from t[0] to t[1]){hint}"
            )
    # the requested times live in t's dtype, the times func receives in the state's
    _check_t_resolution(times, coarser_dtype(t.dtype, y0.dtype))
    return times


#: requested times (or fixed steps) closer than this many units of the time dtype's
#: resolution ``eps * max|t|`` are refused: they would be rounded by more than 1/32 of
#: their spacing, so outputs and the times ``func`` sees would silently be off.
TIME_RESOLUTION_UNITS = 16


def check_time_resolution(spacing: float, t_max: float, dtype: torch.dtype, what: str) -> None:
    """Refuse a time ``spacing`` that ``dtype`` cannot resolve near ``|t| = t_max``.

    The rule: ``spacing >= TIME_RESOLUTION_UNITS * ulp``, with ``ulp`` the distance between
    consecutive numbers of ``dtype`` at ``t_max``; ``dtype`` is the coarser of ``t``'s (the
    requested times) and the state's (the times ``func`` receives). Below that, a
    requested time (or a stage time ``t + c h`` handed to ``func``) is rounded by more
    than 1/32 of the spacing:
    float32 times around 1e6 are multiples of 0.0625, so ``1e6 + 0.01`` is ``1e6``.
    Adaptive steps are not checked (their size is not known in advance; the loop itself
    keeps time in float64). float64 times are never refused (the loop cannot do better).

    Raises:
        ValueError: naming ``what``, the dtype's resolution there and the fix.
    """
    if not (math.isfinite(spacing) and math.isfinite(t_max)):
        return  # an open end (t[-1] = inf with an event): nothing to round
    if dtype == torch.float64 or spacing >= TIME_RESOLUTION_UNITS * torch.finfo(dtype).eps * t_max:
        return  # (eps * t_max bounds the ulp at t_max: the exact test is needed only below)
    x = torch.tensor(t_max, dtype=dtype)
    ulp = float(torch.nextafter(x, torch.tensor(math.inf, dtype=dtype)) - x)
    if spacing >= TIME_RESOLUTION_UNITS * ulp:
        return
    raise ValueError(
        f"{what} is {spacing:.3g}, too fine for {dtype} times near |t|={t_max:.6g}: {dtype} "
        f"numbers there are {ulp:.3g} apart, so requested times and the times func(t, y) "
        f"receives would be rounded by up to {ulp / 2:.3g} ({ulp / 2 / spacing:.0%} of the "
        f"spacing; the limit is 1/{2 * TIME_RESOLUTION_UNITS}). Shift the time origin so "
        "that |t| is small (solve on t - t[0], adding t[0] back inside func if it uses "
        "absolute time), or use float64 for t and for the state (func receives times in "
        "the state's dtype)"
    )


def coarser_dtype(a: torch.dtype, b: torch.dtype) -> torch.dtype:
    """Of two floating dtypes, the one with the larger machine epsilon."""
    return a if torch.finfo(a).eps >= torch.finfo(b).eps else b


def _check_t_resolution(times: list[float], dtype: torch.dtype) -> None:
    """The smallest gap between finite requested times must be resolvable in ``dtype``."""
    finite = [x for x in times if math.isfinite(x)]
    if len(finite) < 2:
        return
    gaps = [abs(b - a) for a, b in itertools.pairwise(finite)]
    i = min(range(len(gaps)), key=gaps.__getitem__)
    t_max = max(abs(finite[0]), abs(finite[-1]))
    check_time_resolution(gaps[i], t_max, dtype, f"the gap t[{i + 1}] - t[{i}]")


def check_tolerance(name: str, value: object) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise TypeError(
                f"{name} must be a positive number; got a tensor of shape {tuple(value.shape)}"
            )
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a positive number; got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite; got {name}={value}")
    return float(value)


def check_precision(rtol: float, dtype: torch.dtype) -> None:
    """An adaptive solve cannot reach a relative tolerance far below the dtype's resolution."""
    eps = torch.finfo(dtype).eps
    if rtol < eps / 10:
        raise ValueError(
            f"rtol={rtol:g} is far below what a {dtype} state can resolve (eps={eps:.2g}): the "
            f"error estimate would be rounding noise and the step would shrink to nothing. "
            f"Use rtol >= {eps:.1g} (and atol accordingly) or a more precise state, e.g. "
            f"y0.to(torch.float32)"
        )


def check_method(method: object) -> Method:
    return get_method(method)  # type: ignore[arg-type]


def check_differentiable(method: Method, y0: Tensor, t: Tensor, func: object) -> None:
    """A method that solves outside autograd refuses inputs that ask for gradients."""
    if method.differentiable or not torch.is_grad_enabled():
        return
    asking = [name for name, x in (("y0", y0), ("t", t)) if x.requires_grad]
    if isinstance(func, torch.nn.Module) and any(p.requires_grad for p in func.parameters()):
        asking.append("the parameters of func")
    if asking:
        raise ValueError(
            f"method={method.name!r} solves outside autograd and cannot give gradients, "
            f"but {', '.join(asking)} require grad. Solve under torch.no_grad() (or pass "
            "y0.detach(), t.detach()), or choose a differentiable method such as 'dopri5'"
        )


def _positive(name: str, value: object) -> float:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number; got {name}={value!r}")
    if not math.isfinite(value):
        raise ValueError(
            f"{name} must be a positive finite number; got {name}={value!r}. For a single "
            "step over the whole span pass n_steps=1"
        )
    return float(value)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer; got {name}={value!r}")
    return value


def _times(name: str, value: object) -> tuple[float, ...]:
    if isinstance(value, Tensor):
        return tuple(float(x) for x in value.detach().reshape(-1).cpu().tolist())
    if isinstance(value, Sequence):
        return tuple(float(x) for x in value)
    raise TypeError(f"options[{name!r}] must be a 1-D tensor or a list of times; got {value!r}")


def merge_options(
    options: Mapping[str, object] | None, method: Method, **explicit: object
) -> dict[str, object]:
    """Join keyword arguments and torchdiffeq-style ``options``; unknown keys raise."""
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options must be a dict or None; got {type(options).__name__}")
    opts = dict(options or {})
    own = getattr(method, "valid_options", None)  # a LoopMethod may honour fewer keys
    valid = own if own is not None else ADAPTIVE_OPTIONS if method.adaptive else FIXED_OPTIONS
    for key in opts:
        if key in valid:
            continue
        if own is not None:
            raise ValueError(
                f"options[{key!r}] is not supported by method={method.name!r}; valid keys: "
                f"{sorted(valid)} (settings of the method itself are arguments of its "
                f"class, e.g. method=odenet.solvers.{type(method).__name__}(...))"
            )
        if key in ADAPTIVE_OPTIONS | FIXED_OPTIONS:
            kind = "adaptive" if key in ADAPTIVE_OPTIONS else "fixed-step"
            raise ValueError(
                f"options[{key!r}] applies to {kind} methods only, but method={method.name!r} "
                f"is {'adaptive' if method.adaptive else 'fixed-step'}. Valid keys here: "
                f"{sorted(valid)}"
            )
        raise ValueError(
            f"unknown option {key!r} for method={method.name!r}; valid keys: {sorted(valid)}"
        )
    for key, value in explicit.items():
        if value is None:
            continue
        if key in opts and opts[key] != value:
            raise ValueError(
                f"{key} given twice (argument {value!r}, options {opts[key]!r}); give it once"
            )
        if key not in valid and own is not None:
            raise ValueError(
                f"{key}={value!r} is not supported by method={method.name!r}; valid "
                f"settings: {sorted(valid)}"
            )
        if key not in valid:
            raise ValueError(
                f"{key}={value!r} applies to "
                f"{'fixed-step' if key in FIXED_OPTIONS else 'adaptive'} "
                f"methods only, but method={method.name!r} is "
                f"{'adaptive' if method.adaptive else 'fixed-step'}"
            )
        opts[key] = value
    return opts


def check_options(
    opts: Mapping[str, object], method: Method, rtol: float, atol: float
) -> AdaptiveConfig:
    """An :class:`AdaptiveConfig` from merged options (adaptive methods only)."""
    ctrl = PIController(
        safety=float(opts.get("safety", 0.9)),  # type: ignore[arg-type]
        beta=float(opts.get("beta", 0.04)),  # type: ignore[arg-type]
        factor_min=float(opts.get("dfactor", 0.2)),  # type: ignore[arg-type]
        factor_max=float(opts.get("ifactor", 10.0)),  # type: ignore[arg-type]
        dt_min=float(opts.get("dt_min", 0.0)),  # type: ignore[arg-type]
        dt_max=float(opts.get("dt_max", math.inf)),  # type: ignore[arg-type]
    )
    first = opts.get("first_step")
    norm = opts.get("norm", rms_norm)
    if not callable(norm):
        raise TypeError(
            f"options['norm'] must be callable as norm(tensor) -> 0-d tensor; got {norm!r}"
        )
    return AdaptiveConfig(
        rtol=rtol,
        atol=atol,
        controller=ctrl,
        first_step=None if first is None else _positive("first_step", first),
        max_steps=_positive_int("max_steps", opts.get("max_num_steps", DEFAULT_MAX_STEPS)),
        norm=norm,  # type: ignore[arg-type]
        step_t=_times("step_t", opts.get("step_t", ())),
        jump_t=_times("jump_t", opts.get("jump_t", ())),
        stiffness_check=_flag("stiffness_check", opts.get("stiffness_check", True)),
        on_step=step_hook(opts, "on_step"),
        on_accept=step_hook(opts, "on_accept"),
        on_reject=step_hook(opts, "on_reject"),
    )


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"options[{name!r}] must be True or False; got {value!r}")
    return value


def step_hook(opts: Mapping[str, object], key: str) -> Callable[..., object] | None:
    """``opts[key]`` checked to be callable as ``hook(t0, y0, dt)`` (or ``None``)."""
    hook = opts.get(key)
    if hook is not None and not callable(hook):
        raise TypeError(f"options[{key!r}] must be callable as hook(t0, y0, dt); got {hook!r}")
    return hook  # type: ignore[return-value]


def fixed_grid(
    opts: Mapping[str, object],
    method: Method,
    t0: float,
    t1: float,
    t_dtype: torch.dtype | None = None,
) -> list[float]:
    """The step grid of a fixed-step method: ``t0 + k h`` then ``t1`` (last step may be shorter).

    ``opts["grid"]`` gives the grid explicitly (from ``t0`` to ``t1``, strictly monotonic).
    With ``t1 = +-inf`` (an open-ended event search) the grid holds ``max_num_steps`` steps
    of ``step_size``. With ``t_dtype``, a step too fine for that time dtype is refused
    (:func:`check_time_resolution`).
    """
    grid = _fixed_grid(opts, method, t0, t1)
    if t_dtype is not None and len(grid) > 1 and math.isfinite(t1):
        step = abs(grid[1] - grid[0])
        check_time_resolution(step, max(abs(t0), abs(t1)), t_dtype, "the fixed step size")
    return grid


def _fixed_grid(opts: Mapping[str, object], method: Method, t0: float, t1: float) -> list[float]:
    if opts.get("grid") is not None:
        return _explicit_grid(opts, t0, t1)
    step_size, n_steps = opts.get("step_size"), opts.get("n_steps")
    if step_size is None and n_steps is None:
        raise ValueError(
            f"method={method.name!r} is fixed-step and needs step_size (e.g. step_size=0.01) "
            "or n_steps (e.g. n_steps=100). torchdiffeq stepped on the output times t when "
            "neither was given: for evenly spaced t, n_steps=len(t) - 1 gives that grid; or "
            "use an adaptive method such as 'dopri5'"
        )
    if step_size is not None and n_steps is not None:
        raise ValueError(
            f"give step_size or n_steps, not both; got step_size={step_size}, n_steps={n_steps}"
        )
    span = abs(t1 - t0)
    d = 1.0 if t1 > t0 else -1.0
    if math.isinf(t1):
        if step_size is None:
            raise ValueError(
                f"an open-ended event search with method={method.name!r} needs step_size "
                f"(n_steps={n_steps} cannot divide an infinite span)"
            )
        h = _positive("step_size", step_size)
        limit = _positive_int("max_steps", opts.get("max_num_steps", DEFAULT_MAX_STEPS))
        return [t0 + d * h * k for k in range(limit + 1)]
    if n_steps is not None:
        n = _positive_int("n_steps", n_steps)
        return [t0 + (t1 - t0) * (k / n) for k in range(n)] + [t1]
    h = _positive("step_size", step_size)
    ratio = span / h
    n = (
        max(1, round(ratio))
        if abs(ratio - round(ratio)) <= 1e-9 * max(1.0, ratio)
        else math.ceil(ratio)
    )
    max_steps = _positive_int("max_steps", opts.get("max_num_steps", DEFAULT_MAX_STEPS))
    if n > max_steps:
        raise ValueError(
            f"step_size={h} over a span of {span} makes {n} steps, more than "
            f"max_steps={max_steps}; "
            "raise max_steps or use a larger step_size"
        )
    return [t0 + d * h * k for k in range(n)] + [t1]


def _explicit_grid(opts: Mapping[str, object], t0: float, t1: float) -> list[float]:
    """``opts["grid"]`` checked: it must start on ``t0``, end on ``t1`` and be monotonic."""
    if opts.get("step_size") is not None or opts.get("n_steps") is not None:
        raise ValueError(
            "options['grid'] gives the step grid; do not also give step_size or n_steps"
        )
    grid = list(_times("grid", opts["grid"]))
    if len(grid) < 2 or grid[0] != t0 or grid[-1] != t1:
        ends = f"{grid[0]} ... {grid[-1]}" if grid else "empty"
        raise ValueError(
            f"options['grid'] must run from t[0]={t0} to t[-1]={t1}; got {ends} "
            f"({len(grid)} points)"
        )
    d = 1.0 if t1 > t0 else -1.0
    for i in range(1, len(grid)):
        if not (grid[i] - grid[i - 1]) * d > 0:
            raise ValueError(
                f"options['grid'] must be strictly monotonic in the direction of t; got "
                f"grid[{i}]={grid[i]} after grid[{i - 1}]={grid[i - 1]}"
            )
    return grid


def check_output(k0: Tensor, y0: Tensor, name: str = "func(t0, y0)") -> None:
    """The first evaluation must match the state's shape and dtype."""
    if not isinstance(k0, Tensor):
        raise TypeError(f"{name} must return a tensor (dy/dt); got {type(k0).__name__}")
    if k0.shape != y0.shape:
        raise ValueError(
            f"{name} returned shape {tuple(k0.shape)} but the state has shape "
            f"{tuple(y0.shape)}; func(t, y) must return dy/dt with the shape of y"
        )
    if k0.dtype != y0.dtype:
        raise TypeError(
            f"{name} returned dtype {k0.dtype} but the state is {y0.dtype}; return dy/dt "
            "in the dtype of y (e.g. build func's parameters in that dtype)"
        )


def wrap_tuple_func(
    func: Callable[..., object], flat: FlatState
) -> Callable[[Tensor, Tensor], Tensor]:
    """func on tuple states as a func on the flat vector (output checked on first call)."""
    shapes = flat.shapes or ()
    checked = [False]

    def flat_func(t: Tensor, y: Tensor) -> Tensor:
        state = flat.unpack(y)
        out = func(t, state)
        if not checked[0]:
            if not isinstance(out, (tuple, list)) or len(out) != len(shapes):
                raise TypeError(
                    f"func must return a tuple of {len(shapes)} tensors for a tuple y0; got "
                    f"{type(out).__name__}"
                )
            for i, (o, s) in enumerate(zip(out, state, strict=True)):
                check_output(o, s, name=f"func(t0, y0)[{i}]")
            checked[0] = True
        return torch.cat([o.reshape(-1) for o in out])  # type: ignore[union-attr]

    return flat_func
