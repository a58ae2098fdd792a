"""``odenet-convert``: a thin ``@hydra.main`` around :func:`odenet.convert.run.convert_run`
(config: ``conf/convert.yaml``, shipped as ``odenet.conf``).

A failure the user causes (:class:`~odenet.errors.UsageError`: no or a missing
``run_dir``, a run that holds no ResNet, a bad ``interpolation``, an unreadable or foreign
checkpoint, a mistyped key) is printed as one line on stderr, ``odenet-convert: <kind>:
...``, and the command exits with status 2 (``HYDRA_FULL_ERROR=1`` adds the traceback).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from odenet.cli import check_overrides, command_line_overrides, fail, find_usage_error, full_errors
from odenet.convert.run import convert_run
from odenet.errors import ConfigError
from odenet.runs.resolvers import register_resolvers

register_resolvers()

PROG = "odenet-convert"


def convert_job(cfg: DictConfig) -> float | None:
    """Convert, evaluate and write; print a one-line summary."""
    try:
        summary = convert_run(cfg)
    except Exception as exc:
        err = find_usage_error(exc)
        if err is None:
            raise
        fail(PROG, exc, err, multirun=False)
    orig, conv = summary["original"], summary["converted"]
    print(
        f"{PROG}: stages {summary['stages']}; original loss {orig['loss']:.4f}, "
        f"converted ({conv['method']}) loss {conv['loss']:.4f}; wrote {summary['checkpoint']}",
        flush=True,
    )
    return conv["accuracy"] if conv["accuracy"] is not None else conv["loss"]


hydra_main = hydra.main(config_path="pkg://odenet.conf", config_name="convert", version_base="1.3")(
    convert_job
)


def main() -> None:
    """The ``odenet-convert`` console entry: overrides checked first (one-line errors)."""
    overrides = command_line_overrides(sys.argv[1:])
    if overrides is not None and not full_errors():
        try:
            check_overrides("convert", overrides)
        except ConfigError as exc:
            fail(PROG, exc, exc, multirun=False)
    hydra_main()


if __name__ == "__main__":
    main()
