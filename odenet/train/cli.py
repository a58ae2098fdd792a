"""``odenet-train``: a thin ``@hydra.main`` around :func:`odenet.train.train`.

The configs ship inside the package as ``odenet.conf`` (the repository's top-level
``conf/``), so the command works after a plain ``pip install``.

A :class:`~odenet.train.ConfigError` is printed as one line on stderr
(``odenet-train: config error: ...``), without Hydra's traceback. A single run then exits
with status 2. In a multirun (``-m``) the failing job is marked failed (the other jobs still
run) and, once the sweep ends, the command prints ``Error executing job with overrides:
[...]`` and the same line, and exits with a non-zero status (2 with the default launcher,
which runs the jobs in this process; 1 with launchers that run them elsewhere).
"""

from __future__ import annotations

import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode
from omegaconf import DictConfig

from odenet.train.config_errors import ConfigError
from odenet.train.loop import train
from odenet.train.resolvers import register_resolvers

register_resolvers()


def _summary(result: dict) -> str:
    keys = [k for k in ("test_accuracy", "test_loss", "test_nfe_forward") if k in result]
    parts = [f"{k}={result[k]:.4f}" for k in keys]
    parts.append(f"params={result['params']}")
    parts.append(f"time={result['wall_time_s']:.1f}s")
    if result.get("diverged"):
        return f"odenet-train stopped in epoch {result['epoch']}: diverged, " + " ".join(parts)
    return f"odenet-train finished after epoch {result['epoch']}: " + " ".join(parts)


CONFIG_ERROR_STATUS = 2
_failed_jobs: list[str] = []  # config errors of this process's multirun jobs


class JobConfigError(CompactHydraException):
    """A multirun job's :class:`ConfigError`; Hydra prints it without a traceback."""


def _multirun() -> bool:
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # no Hydra context (train_job called directly)
        return False


def train_job(cfg: DictConfig) -> float | None:
    """Train; print the final test metrics; return the objective (``test_accuracy`` or
    ``test_loss``) for Hydra sweepers. A :class:`ConfigError` becomes one line on stderr
    and ``SystemExit(2)`` (a single run) or :class:`JobConfigError` (a multirun job)."""
    try:
        result = train(cfg)
    except ConfigError as exc:
        line = f"odenet-train: config error: {exc}"
        print(line, file=sys.stderr, flush=True)
        if _multirun():
            _failed_jobs.append(line)
            raise JobConfigError(line) from None
        raise SystemExit(CONFIG_ERROR_STATUS) from None
    if int(os.environ.get("RANK", "0")) == 0:
        print(_summary(result), flush=True)
    return result.get("test_accuracy", result.get("test_loss"))


hydra_main = hydra.main(config_path="pkg://odenet.conf", config_name="config", version_base="1.3")(
    train_job
)


def main() -> None:
    """The ``odenet-train`` console entry: Hydra's command line around :func:`train_job`;
    exit status 2 when a (multirun) job of this process failed on a config error."""
    try:
        hydra_main()
    except SystemExit as exc:
        if exc.code == 1 and _failed_jobs:
            raise SystemExit(CONFIG_ERROR_STATUS) from None
        raise
