"""OmegaConf resolvers used by the packaged configs (registered on import of odenet.train)."""

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


def register_resolvers() -> None:
    """Register ``${odenet.step_size:span,steps}`` (idempotent)."""
    if not OmegaConf.has_resolver("odenet.step_size"):
        OmegaConf.register_new_resolver("odenet.step_size", step_size)
