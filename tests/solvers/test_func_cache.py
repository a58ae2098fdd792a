"""FuncCache: per-func-object entries, least recently used dropped first."""

from __future__ import annotations

import gc

from odenet.solvers.func_cache import FuncCache


class Field:
    def __call__(self, t: float, y: float) -> float:
        return -y


def test_hits_need_the_same_object_and_key() -> None:
    cache: FuncCache[str] = FuncCache()
    f, g = Field(), Field()
    cache.put(f, "dopri5", "compiled f")
    assert cache.get(f, "dopri5") == "compiled f"
    assert cache.get(f, "tsit5") is None
    assert cache.get(g, "dopri5") is None


def test_a_freed_func_is_not_matched_by_its_reused_id() -> None:
    cache: FuncCache[str] = FuncCache()
    f = Field()
    cache.put(f, "k", "old")
    fid = id(f)
    del f
    gc.collect()
    # whatever object now has that id, the weak reference of the entry is dead
    assert all(cache.get(obj, "k") is None for obj in gc.get_objects() if id(obj) == fid)
    assert cache.get(Field(), "k") is None


def test_least_recently_used_is_dropped() -> None:
    cache: FuncCache[int] = FuncCache(size=2)
    a, b, c = Field(), Field(), Field()
    cache.put(a, "k", 1)
    cache.put(b, "k", 2)
    assert cache.get(a, "k") == 1  # a is now the most recent
    cache.put(c, "k", 3)
    assert len(cache) == 2
    assert cache.get(b, "k") is None
    assert (cache.get(a, "k"), cache.get(c, "k")) == (1, 3)


def test_a_bound_method_is_found_again_through_a_fresh_attribute_access() -> None:
    cache: FuncCache[str] = FuncCache()
    f, g = Field(), Field()
    cache.put(f.__call__, "k", "v")  # a new bound-method object at every access
    assert cache.get(f.__call__, "k") == "v"
    assert cache.get(g.__call__, "k") is None
    del f
    gc.collect()
    assert all(cache.get(Field().__call__, "k") is None for _ in range(3))
    cache.clear()
    assert len(cache) == 0


class Slotted:
    __slots__ = ()

    def field(self, t: float, y: float) -> float:
        return -y


def test_a_bound_method_of_an_instance_without_weak_references_is_held_strongly() -> None:
    cache: FuncCache[str] = FuncCache()
    s = Slotted()
    cache.put(s.field, "k", "v")
    assert cache.get(s.field, "k") == "v"
