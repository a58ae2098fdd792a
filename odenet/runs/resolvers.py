"""OmegaConf resolvers used by the packaged configs (registered on import of ``odenet.train``
and of ``odenet.convert.cli``)."""

from __future__ import annotations

from omegaconf import OmegaConf


def step_size(span: float, steps: int | None) -> float | None:
    """``span / steps``: the step of a fixed-step solver taking ``steps`` steps over a
    time interval of length ``span``; ``None`` when ``steps`` is ``None`` (adaptive)."""
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"solver.steps must be a positive integer or null; got {steps!r}")
    return float(span) / steps


def add(a: int, b: int) -> int:
    """``a + b``, e.g. the width of a state with ``b`` augmented channels."""
    return a + b


RESOLVERS = {"odenet.step_size": step_size, "odenet.add": add}


def register_resolvers() -> None:
    """Register ``${odenet.step_size:span,steps}`` and ``${odenet.add:a,b}`` (idempotent)."""
    for name, fn in RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
