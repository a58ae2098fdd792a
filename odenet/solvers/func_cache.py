"""A small least-recently-used cache of compiled objects, one per user ``func`` object.

Compiled steps and loops are specialised on the ``func`` they inline, so they are kept per
``func`` object: the entry holds a weak reference to it (a strong one for the few objects
that take none), and a hit requires the very same object, not merely an equal ``id`` reused
after the old one was freed. A bound method (``model.forward``) is a new object at every
attribute access: it is keyed on its instance and function, so ``solve(model.forward, ...)``
called twice finds the first compilation.

The cached values (compiled code closing over ``func``) reference ``func`` themselves, so
the ``size`` most recent ``func`` objects stay alive while cached: ``clear()`` releases them.
"""

from __future__ import annotations

import types
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["FuncCache"]

V = TypeVar("V")


def _identity(func: object) -> tuple[Hashable, Callable[[], object]]:
    """A key for ``func`` and a reference that returns it (or an equal bound method)."""
    method = isinstance(func, types.MethodType)
    ident = (id(func.__self__), id(func.__func__)) if method else id(func)  # type: ignore[union-attr]
    try:
        return ident, weakref.WeakMethod(func) if method else weakref.ref(func)  # type: ignore[arg-type]
    except TypeError:  # no weak references (e.g. __slots__): kept alive while cached
        return ident, lambda: func


class FuncCache(Generic[V]):
    """``(func, key) -> value``, at most ``size`` entries, the least recently used dropped.

    Args:
        size: the most entries kept.
    """

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Hashable, Hashable], tuple[Callable[[], object], V]] = (
            OrderedDict()
        )

    def get(self, func: object, key: Hashable) -> V | None:
        """The value stored for this very ``func`` object and ``key``, or ``None``."""
        ident, _ = _identity(func)
        full = (ident, key)
        hit = self._entries.get(full)
        if hit is None:
            return None
        alive = hit[0]()
        if alive is not func and not (isinstance(func, types.MethodType) and alive == func):
            return None
        self._entries.move_to_end(full)
        return hit[1]

    def put(self, func: object, key: Hashable, value: V) -> V:
        """Store ``value`` (returned), dropping the least recently used beyond ``size``."""
        ident, ref = _identity(func)
        self._entries[(ident, key)] = (ref, value)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
