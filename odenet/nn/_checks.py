"""Small argument checks shared by the layers and models (errors name argument, value, fix)."""

from __future__ import annotations


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1, else raise ``ValueError``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}. Pass e.g. {name}=2.")
    return value


def check_nonnegative_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 0, else raise ``ValueError``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an int >= 0; got {value!r}. Pass e.g. {name}=0.")
    return value


def check_probability(name: str, value: object, *, open_left: bool = False) -> float:
    """Return ``float(value)`` if it lies in [0, 1] (or (0, 1] with ``open_left``)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a float in [0, 1]; got {value!r} ({type(value)}).")
    v = float(value)
    low_ok = v > 0.0 if open_left else v >= 0.0
    if not (low_ok and v <= 1.0):
        interval = "(0, 1]" if open_left else "[0, 1]"
        raise ValueError(f"{name} must lie in {interval}; got {value!r}.")
    return v


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}.")
    return value  # type: ignore[return-value]
