"""What ``odenet-train`` and ``odenet-convert`` share: errors a user causes become one line.

* :func:`check_overrides` composes the config once, before Hydra runs, with the command
  line's overrides (the first value of each sweep), and turns Hydra's multi-line
  composition errors into one :class:`~odenet.errors.ConfigError` line: ``unknown key
  'trainer.epoch'; did you mean 'trainer.epochs'?`` (``difflib.get_close_matches`` over the
  config's dotted keys), ``unknown solver 'rk5'; choices: ...``.
* :func:`fail` prints a :class:`~odenet.errors.UsageError` (found in the exception or the
  chain it was raised from, e.g. through Hydra's ``InstantiationException``) as
  ``<command>: <kind>: <message>`` on stderr and exits with status :data:`USAGE_ERROR_STATUS`
  (in a multirun job: raises :class:`JobFailed`, so that the other jobs still run).

With the environment variable ``HYDRA_FULL_ERROR=1`` the full traceback is printed first,
and :func:`check_overrides` leaves composition errors to Hydra.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
import sys
import traceback
from collections.abc import Iterator
from typing import Any, NoReturn

from hydra import compose, initialize_config_module
from hydra.errors import CompactHydraException, MissingConfigException
from omegaconf import OmegaConf

from odenet.errors import ConfigError, UsageError

__all__ = [
    "USAGE_ERROR_STATUS",
    "DiskFull",
    "JobFailed",
    "check_overrides",
    "command_line_overrides",
    "error_line",
    "fail",
    "find_usage_error",
    "full_errors",
]

USAGE_ERROR_STATUS = 2
CONFIG_MODULE = "odenet.conf"
MAX_VARIANTS = 16  # compositions check_overrides tries at most (about 0.1 s each)
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class JobFailed(CompactHydraException):
    """A multirun job's :class:`UsageError`; Hydra prints it without a traceback."""


def full_errors() -> bool:
    """Whether ``HYDRA_FULL_ERROR=1``: show full tracebacks."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


class DiskFull(UsageError):
    """A write other than a checkpoint's failed for lack of space."""

    kind = "disk full"


def find_usage_error(exc: BaseException) -> UsageError | None:
    """``exc`` or the first exception in the chain it was raised from that is a
    :class:`UsageError` (an ``OSError`` for a full disk or quota becomes
    :class:`DiskFull`); ``None`` when there is none (a bug: keep its traceback)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, UsageError):
            return current
        if isinstance(current, OSError) and current.errno in _NO_SPACE:
            return DiskFull(
                f"{current}; free some space or write the run elsewhere (hydra.run.dir=...)"
            )
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def error_line(prog: str, err: UsageError) -> str:
    """``<prog>: <kind>: <message>``, the message's lines joined into one."""
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return f"{prog}: {err.kind}: {text}"


def fail(prog: str, exc: BaseException, err: UsageError, *, multirun: bool) -> NoReturn:
    """Print ``err`` as one line (after the traceback of ``exc`` when :func:`full_errors`);
    raise :class:`JobFailed` in a multirun job, else exit with status 2."""
    if full_errors():
        traceback.print_exception(exc)
    line = error_line(prog, err)
    print(line, file=sys.stderr, flush=True)
    if multirun:
        raise JobFailed(line) from None
    raise SystemExit(USAGE_ERROR_STATUS) from None


def command_line_overrides(argv: list[str]) -> list[str] | None:
    """The overrides of a Hydra command line, or ``None`` when it asks for something else
    (``--cfg``, ``--info``, ``--help``, another config, ...) or cannot be parsed."""
    from hydra._internal.utils import get_args_parser

    try:
        args, unknown = get_args_parser().parse_known_args(argv)
    except SystemExit:
        return None
    other = ("help", "hydra_help", "version", "cfg", "info", "shell_completion")
    other += ("config_path", "config_name", "config_dir", "experimental_rerun")
    if unknown or any(getattr(args, name, None) for name in other):
        return None
    return list(args.overrides)


def _sweep_variants(overrides: list[str]) -> list[list[str]]:
    """Override lists to compose: first, each sweep replaced by its first value; then, for
    each later value of a sweep of a config group (``solver=rk4,rk5``), the first list with
    that value (at most :data:`MAX_VARIANTS` lists). ``hydra.*`` overrides are left out."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as exc:
        raise ConfigError(f"cannot parse the overrides {overrides}: {exc}") from None
    first: list[str] = []
    later: list[tuple[int, str]] = []  # (position in first, another value's override)
    for o in parsed:
        if o.key_or_group.startswith("hydra"):
            continue
        if not o.is_sweep_override():
            first.append(o.input_line)
            continue
        try:
            values = list(o.sweep_string_iterator())
        except Exception:  # interval(...) and other sweeps a sweeper samples
            continue
        key = o.get_key_element()
        first.append(f"{key}={values[0]}")
        if "." not in o.key_or_group:  # a config group (or a top-level key): check them all
            later += [(len(first) - 1, f"{key}={v}") for v in values[1:]]
    variants = [first]
    for position, override in later[: MAX_VARIANTS - 1]:
        variants.append([*first[:position], override, *first[position + 1 :]])
    return variants


def _compose(config_name: str, overrides: list[str]) -> Any:
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return compose(config_name, overrides=overrides)


def _dotted_keys(node: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            full = f"{prefix}{key}"
            yield full
            yield from _dotted_keys(value, full + ".")


def _override_key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0].split("@", 1)[0]


def _closest(key: str, keys: list[str]) -> list[str]:
    """The known key ``key`` most likely meant: one with the same last part (``optim.lr``
    -> ``optim.optimizer.lr``), else a sibling with a similar last part (``model.widht`` ->
    ``model.width``), else the closest dotted key overall (``solvr`` -> ``solver``)."""
    parent, _, leaf = key.rpartition(".")
    same_leaf = [k for k in keys if k.rpartition(".")[2] == leaf]
    if same_leaf:
        return difflib.get_close_matches(key, same_leaf, n=1, cutoff=0.0)
    siblings = [k.rpartition(".")[2] for k in keys if k.rpartition(".")[0] == parent]
    close = difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.6)
    if close:
        return [f"{parent}.{close[0]}" if parent else close[0]]
    return difflib.get_close_matches(key, keys, n=1, cutoff=0.6)


def _unknown_key(config_name: str, overrides: list[str], key: str) -> ConfigError:
    """``unknown key <key>; did you mean <closest>?``, closest among the keys of the
    config composed without that override."""
    rest = [o for o in overrides if _override_key(o) != key]
    value = next((o.split("=", 1)[1] for o in overrides if _override_key(o) == key), "...")
    try:
        keys = list(_dotted_keys(OmegaConf.to_container(_compose(config_name, rest))))
    except Exception:
        keys = []
    keys = [k for k in keys if not k.startswith("hydra")]
    close = _closest(key, keys)
    hint = f"did you mean {close[0]!r}?" if close else "no similar key exists"
    return ConfigError(f"unknown key {key!r}; {hint} (to add a new key, write +{key}={value})")


def _missing_option(exc: MissingConfigException) -> ConfigError:
    group, _, name = str(exc.missing_cfg_file or "").rpartition("/")
    options = list(exc.options or [])
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    hint = f"did you mean {group}={close[0]}? " if close else ""
    return ConfigError(f"unknown {group or 'config'} {name!r}; {hint}choices: {options}")


def check_overrides(config_name: str, overrides: list[str]) -> None:
    """Compose ``config_name`` of ``odenet.conf`` with ``overrides`` (the first value of
    each sweep) and raise a one-line :class:`ConfigError` for what Hydra would refuse with
    a multi-line message: an unknown key (with the closest known key), an unknown config
    group option (with the choices; every value of a swept group is checked), an override
    that cannot be parsed."""
    for plain in _sweep_variants(overrides):
        _compose_or_raise(config_name, plain)


def _compose_or_raise(config_name: str, plain: list[str]) -> None:
    try:
        _compose(config_name, plain)
    except MissingConfigException as exc:
        raise _missing_option(exc) from None
    except Exception as exc:  # ConfigCompositionException, OverrideParseException, ...
        message = str(exc)
        match = re.search(r"Could not override '([^']+)'", message)
        if match:
            raise _unknown_key(config_name, plain, match.group(1)) from None
        text = " ".join(line.strip() for line in message.splitlines() if line.strip())
        raise ConfigError(text) from None
