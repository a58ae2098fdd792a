"""The OmegaConf resolvers of the packaged configs (defined in :mod:`odenet.runs.resolvers`,
below both training and conversion; kept importable from here)."""

from __future__ import annotations

from odenet.runs.resolvers import RESOLVERS, add, register_resolvers, step_size

__all__ = ["RESOLVERS", "add", "register_resolvers", "step_size"]
