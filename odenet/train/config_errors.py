"""The exception of a configuration value that cannot work."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value that cannot work; raised before training starts (or, on
    resume, before the checkpoint is loaded). Its message names the key, the value and the
    fix; ``odenet-train`` prints it as one line and exits with status 2."""
