"""Events: several event functions, each with a direction, terminal flag and state reset.

``odenet.solve(..., event_fn=[Event(fn, direction=-1, terminal=False, reset=g), ...])``.
An event fires where ``fn(t, y)`` crosses zero in its ``direction``; a terminal event stops
the solve, a non-terminal one is recorded and, with ``reset``, replaces the state by
``reset(t, y)`` before the solve continues (a bouncing ball: ``v <- -e v`` at ``h = 0``).
A plain callable ``event_fn`` is still the single terminal event, as before. Event
functions and resets take ``(t, y)`` also when ``solve`` gets ``args`` (close over what
they need).

The solve runs in segments between events (:mod:`odenet.solving.event_loop`); the event times are
located on the dense output to float64 resolution and are differentiable by the implicit
function theorem (:mod:`odenet.solving.event_grad`), also through resets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

__all__ = ["Event", "EventRecord", "as_events"]

State = Any  # a tensor, or a tuple of tensors for a tuple y0


@dataclass(frozen=True)
class Event:
    """One event function and what happens when it fires.

    Args:
        fn: ``fn(t, y) -> 0-d tensor``; the event is a zero crossing of it (``y`` has
            ``y0``'s structure: reduce over a batch, e.g. ``y[..., 0].min()``).
        direction: ``+1`` fires only on crossings from negative to positive, ``-1`` only
            from positive to negative, ``0`` on both.
        terminal: stop the solve at this event (``Solution.status == "event"``).
        reset: ``reset(t, y) -> y`` applied at a non-terminal event (same structure and
            shapes as ``y``); ``None`` keeps the state.
        per_sample: ``fn`` returns one value per sample, ``(batch,)`` for a tensor ``y0``
            ``(batch, *state)``, and each sample has its own events: a terminal one
            freezes that sample (its state stays at the event; the solve stops when every
            sample is frozen), a reset changes that sample's row only (``reset`` is
            called on the whole batch and its other rows are ignored).
    """

    fn: Callable[[Tensor, State], Tensor]
    direction: int = 0
    terminal: bool = True
    reset: Callable[[Tensor, State], State] | None = None
    per_sample: bool = False

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise TypeError(f"Event.fn must be callable as fn(t, y); got {self.fn!r}")
        if self.direction not in (-1, 0, 1) or isinstance(self.direction, bool):
            raise ValueError(
                f"Event.direction must be -1 (downward), 0 (both) or +1 (upward); got "
                f"{self.direction!r}"
            )
        if not isinstance(self.terminal, bool):
            raise TypeError(f"Event.terminal must be True or False; got {self.terminal!r}")
        if self.reset is not None and not callable(self.reset):
            raise TypeError(
                f"Event.reset must be callable as reset(t, y) or None; got {self.reset!r}"
            )
        if not isinstance(self.per_sample, bool):
            raise TypeError(f"Event.per_sample must be True or False; got {self.per_sample!r}")
        if self.reset is not None and self.terminal:
            raise ValueError(
                "Event.reset applies to non-terminal events (a terminal event ends the solve, "
                "so the reset state would never be used); pass terminal=False"
            )


@dataclass(frozen=True)
class EventRecord:
    """An event that fired: time ``t`` (0-d, differentiable), ``index`` into the event
    list, the state ``y`` just before any reset, and the ``sample`` (batch index) of a
    per-sample event (``None`` otherwise)."""

    t: Tensor
    index: int
    y: State
    sample: int | None = None


def as_events(event_fn: object) -> tuple[Event, ...] | None:
    """The events of ``event_fn`` when it is an :class:`Event` or a sequence of them;
    ``None`` for ``None`` or a plain callable (the single terminal event)."""
    if isinstance(event_fn, Event):
        return (event_fn,)
    if isinstance(event_fn, Sequence) and not isinstance(event_fn, (str, bytes)):
        events = tuple(event_fn)
        if not events:
            raise ValueError("event_fn is an empty list; pass None for no events")
        for i, ev in enumerate(events):
            if not isinstance(ev, Event):
                raise TypeError(
                    f"event_fn[{i}] must be an odenet.Event; got {type(ev).__name__}. Wrap "
                    "a function as Event(fn, direction=0, terminal=True)"
                )
        return events
    return None
