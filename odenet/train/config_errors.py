"""The exception of a configuration value that cannot work (defined in :mod:`odenet.errors`
with the other errors a user causes; kept importable from here)."""

from __future__ import annotations

from odenet.errors import ConfigError

__all__ = ["ConfigError"]
