"""Every exception class of ``odenet.errors`` is public: listed in that module's
``__all__`` and re-exported from ``odenet`` itself, so users can write
``except odenet.ConfigError``."""

from __future__ import annotations

import inspect

import pytest

import odenet
import odenet.errors


def test_every_exception_class_defined_in_errors_is_in_its_all() -> None:
    defined = {
        name
        for name, obj in inspect.getmembers(odenet.errors, inspect.isclass)
        if obj.__module__ == "odenet.errors" and issubclass(obj, BaseException)
    }
    assert defined, "odenet.errors defines no exception classes"
    assert defined == set(odenet.errors.__all__)


@pytest.mark.parametrize("name", odenet.errors.__all__)
def test_error_is_exported_from_odenet(name: str) -> None:
    assert name in odenet.__all__, f"add {name} to odenet/__init__.py and its __all__"
    assert getattr(odenet, name) is getattr(odenet.errors, name)


def test_usage_errors_keep_their_builtin_bases() -> None:
    """Code that catches the builtin exception types keeps catching odenet's."""
    assert issubclass(odenet.ConfigError, (odenet.UsageError, ValueError))
    assert issubclass(odenet.DataFilesMissing, FileNotFoundError)
    assert issubclass(odenet.CheckpointWriteError, OSError)
    assert issubclass(odenet.NonFiniteLoss, FloatingPointError)
    assert issubclass(odenet.RunDirLocked, RuntimeError)
    for name in odenet.errors.__all__:
        assert issubclass(getattr(odenet, name), odenet.OdenetError), name
