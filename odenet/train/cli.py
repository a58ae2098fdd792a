"""``odenet-train``: a thin ``@hydra.main`` around :func:`odenet.train.train`.

The configs ship inside the package as ``odenet.conf`` (the repository's top-level
``conf/``), so the command works after a plain ``pip install``.

Every failure the user causes -- a :class:`~odenet.errors.UsageError`: a bad config value
or key, an unreadable or foreign checkpoint, a corrupted data file, no GPU for
``trainer=gpu``, a diverged loss, a full disk, a run directory in use -- is printed as one
line on stderr (``odenet-train: <kind>: ...``, see :mod:`odenet.cli`), without Hydra's
traceback (``HYDRA_FULL_ERROR=1`` shows it). A single run then exits with status 2. In a
multirun (``-m``) the failing job is marked failed (the other jobs still run) and, once the
sweep ends, the command prints ``Error executing job with overrides: [...]`` and the same
line, and exits with a non-zero status (2 with the default launcher, which runs the jobs in
this process; 1 with launchers that run them elsewhere).

At the end, a run prints its metrics, its output directory and the device it used; a sweep
prints its output directory.
"""

from __future__ import annotations

import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from odenet.cli import (
    USAGE_ERROR_STATUS,
    JobFailed,
    check_overrides,
    command_line_overrides,
    error_line,
    fail,
    find_usage_error,
    full_errors,
)
from odenet.errors import ConfigError
from odenet.runs.resolvers import register_resolvers
from odenet.train.loop import train

register_resolvers()

PROG = "odenet-train"
CONFIG_ERROR_STATUS = USAGE_ERROR_STATUS  # kept for callers of the former name
JobConfigError = JobFailed  # kept for callers of the former name
_failed_jobs: list[str] = []  # usage errors of this process's multirun jobs
_sweep: dict[str, object] = {}  # this process's multirun: its directory and job count


def _summary(result: dict) -> str:
    keys = [k for k in ("test_accuracy", "test_loss", "test_nfe_forward") if k in result]
    parts = [f"{k}={result[k]:.4f}" for k in keys]
    parts.append(f"params={result['params']}")
    parts.append(f"time={result['wall_time_s']:.1f}s")
    where = f"; outputs in {result['run_dir']} (device {result.get('device', '?')})"
    if result.get("diverged"):
        head = f"{PROG} stopped in epoch {result['epoch']}: diverged, "
        return head + " ".join(parts) + where
    return f"{PROG} finished after epoch {result['epoch']}: " + " ".join(parts) + where


def _multirun() -> bool:
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:  # no Hydra context (train_job called directly)
        return False
    if hydra_cfg.mode == RunMode.MULTIRUN:
        _sweep["dir"] = hydra_cfg.sweep.dir
        _sweep["jobs"] = int(_sweep.get("jobs", 0)) + 1
        return True
    return False


def train_job(cfg: DictConfig) -> float | None:
    """Train; print the final test metrics, the run directory and the device; return the
    objective (``test_accuracy`` or ``test_loss``) for Hydra sweepers. A
    :class:`~odenet.errors.UsageError` becomes one line on stderr and ``SystemExit(2)`` (a
    single run) or :class:`~odenet.cli.JobFailed` (a multirun job)."""
    multirun = _multirun()
    try:
        result = train(cfg)
    except Exception as exc:
        err = find_usage_error(exc)
        if err is None:
            raise
        if multirun:
            _failed_jobs.append(error_line(PROG, err))
        fail(PROG, exc, err, multirun=multirun)
    if int(os.environ.get("RANK", "0")) == 0:
        print(_summary(result), flush=True)
    return result.get("test_accuracy", result.get("test_loss"))


hydra_main = hydra.main(config_path="pkg://odenet.conf", config_name="config", version_base="1.3")(
    train_job
)


def _check_command_line(argv: list[str]) -> None:
    overrides = command_line_overrides(argv)
    if overrides is None or full_errors():
        return
    try:
        check_overrides("config", overrides)
    except ConfigError as exc:
        fail(PROG, exc, exc, multirun=False)


def main() -> None:
    """The ``odenet-train`` console entry: Hydra's command line around :func:`train_job`;
    exit status 2 when a (multirun) job of this process failed on a usage error."""
    _check_command_line(sys.argv[1:])
    try:
        hydra_main()
    except SystemExit as exc:
        if exc.code == 1 and _failed_jobs:
            raise SystemExit(USAGE_ERROR_STATUS) from None
        raise
    if "dir" in _sweep and int(os.environ.get("RANK", "0")) == 0:
        done = f"{PROG}: sweep of {_sweep['jobs']} jobs done; outputs in {_sweep['dir']}"
        print(done, flush=True)
