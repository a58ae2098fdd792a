"""Butcher tableaux: the coefficients of a Runge--Kutta method, validated.

An explicit method with ``s`` stages advances ``y`` by one step ``h`` as::

    k_i = f(t + c_i h, y + h * sum_{j<i} a_ij k_j)      i = 1..s
    y1  = y + h * sum_i b_i k_i
    err = h * sum_i e_i k_i          (e = b - b_hat, embedded methods only)

An implicit method (``implicit=True``) gives the full ``s x s`` matrix ``a`` and the sum in
``k_i`` runs over every ``j``: diagonally implicit (``a_ij = 0`` for ``j > i``, solved stage
by stage) or fully implicit (solved as one coupled system).

References: Hairer, Nørsett & Wanner, *Solving Ordinary Differential Equations I*, §II.1;
Hairer & Wanner, *Solving Ordinary Differential Equations II*, §IV.3-IV.8.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["ButcherTableau"]

_TOL = 1e-12


def _as_floats(name: str, values: Sequence[float]) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"ButcherTableau.{name} must be a sequence of numbers; got {values!r}"
        ) from exc


@dataclass(frozen=True)
class ButcherTableau:
    """Coefficients of a Runge--Kutta method, checked on construction.

    Args:
        c: nodes, length ``s``; ``c[0]`` must be 0 for explicit methods.
        a: explicit methods: strictly lower-triangular rows, ``a[i]`` has ``i`` entries
            (``a[0]`` is empty). Implicit methods: ``s`` rows of ``s`` entries each.
        b: weights of the solution, length ``s``; they sum to 1.
        b_error: error weights ``b - b_hat`` of an embedded pair (length ``s``, summing to
            0), or ``None`` for a fixed-step method.
        implicit: ``True`` when ``a`` is given as the full square matrix.

    Raises:
        ValueError: when the lengths disagree, a row of ``a`` does not sum to its node,
            ``b`` does not sum to 1 or ``b_error`` does not sum to 0 (tolerance 1e-12).
    """

    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    b_error: tuple[float, ...] | None = None
    implicit: bool = False
    fsal: bool = field(init=False)

    def __init__(
        self,
        c: Sequence[float],
        a: Sequence[Sequence[float]],
        b: Sequence[float],
        b_error: Sequence[float] | None = None,
        implicit: bool = False,
    ) -> None:
        if not isinstance(implicit, bool):
            raise TypeError(f"ButcherTableau.implicit must be a bool; got {implicit!r}")
        object.__setattr__(self, "implicit", implicit)
        object.__setattr__(self, "c", _as_floats("c", c))
        object.__setattr__(self, "a", tuple(_as_floats(f"a[{i}]", row) for i, row in enumerate(a)))
        object.__setattr__(self, "b", _as_floats("b", b))
        err = None if b_error is None else _as_floats("b_error", b_error)
        object.__setattr__(self, "b_error", err)
        self._validate()
        object.__setattr__(self, "fsal", self._is_fsal())

    @property
    def stages(self) -> int:
        """Number of stages ``s``."""
        return len(self.c)

    @property
    def explicit(self) -> bool:
        """True when every stage depends only on earlier ones (``a`` strictly lower)."""
        return not self.implicit or all(
            self.a[i][j] == 0.0 for i in range(self.stages) for j in range(i, self.stages)
        )

    @property
    def diagonally_implicit(self) -> bool:
        """True when ``a`` is lower triangular (DIRK/ESDIRK: stages solved one by one)."""
        return not self.implicit or all(
            self.a[i][j] == 0.0 for i in range(self.stages) for j in range(i + 1, self.stages)
        )

    @property
    def explicit_first_stage(self) -> bool:
        """True when the first stage is ``f(t, y)`` (``c[0] = 0`` and ``a[0] = 0``)."""
        return self.c[0] == 0.0 and all(x == 0.0 for x in (self.a[0] if self.a else ()))

    @property
    def stiffly_accurate(self) -> bool:
        """True when the last row of ``a`` equals ``b`` (so ``y1`` is the last stage value)."""
        return self.implicit and all(
            abs(x - y) <= _TOL for x, y in zip(self.a[-1], self.b, strict=True)
        )

    def a_matrix(self) -> tuple[tuple[float, ...], ...]:
        """The full ``s x s`` matrix ``a`` (explicit rows padded with zeros)."""
        s = self.stages
        return tuple(tuple(row) + (0.0,) * (s - len(row)) for row in self.a)

    def _validate(self) -> None:
        if self.implicit:
            self._validate_implicit()
        else:
            self._validate_explicit()
        self._validate_weights()

    def _validate_implicit(self) -> None:
        s = len(self.c)
        if s == 0:
            raise ValueError("ButcherTableau.c must have at least one node; got c=()")
        if len(self.a) != s:
            raise ValueError(
                f"ButcherTableau.a must have {s} rows (one per stage); got {len(self.a)}"
            )
        for i, row in enumerate(self.a):
            if len(row) != s:
                raise ValueError(
                    f"ButcherTableau.a[{i}] must have {s} entries (implicit method: the full "
                    f"square matrix); got {len(row)}"
                )
            if abs(sum(row) - self.c[i]) > _TOL:
                raise ValueError(
                    f"ButcherTableau row a[{i}] sums to {sum(row)!r} but c[{i}]={self.c[i]!r}; "
                    "each row of a must sum to its node"
                )

    def _validate_explicit(self) -> None:
        s = len(self.c)
        if s == 0 or self.c[0] != 0.0:
            raise ValueError(
                f"ButcherTableau.c must start with 0 (explicit method); got c={self.c}"
            )
        if len(self.a) != s:
            raise ValueError(
                f"ButcherTableau.a must have {s} rows (one per stage); got {len(self.a)}"
            )
        for i, row in enumerate(self.a):
            if len(row) != i:
                raise ValueError(
                    f"ButcherTableau.a[{i}] must have {i} entries (explicit method); got {len(row)}"
                )
            if abs(sum(row) - self.c[i]) > _TOL:
                raise ValueError(
                    f"ButcherTableau row a[{i}] sums to {sum(row)!r} but c[{i}]={self.c[i]!r}; "
                    "each row of a must sum to its node"
                )

    def _validate_weights(self) -> None:
        s = len(self.c)
        if len(self.b) != s:
            raise ValueError(f"ButcherTableau.b must have {s} entries; got {len(self.b)}")
        if abs(sum(self.b) - 1.0) > _TOL:
            raise ValueError(f"ButcherTableau.b must sum to 1; got sum(b)={sum(self.b)!r}")
        if self.b_error is not None:
            if len(self.b_error) != s:
                raise ValueError(
                    f"ButcherTableau.b_error must have {s} entries; got {len(self.b_error)}"
                )
            if abs(sum(self.b_error)) > _TOL:
                raise ValueError(
                    f"ButcherTableau.b_error must sum to 0; got sum(b_error)={sum(self.b_error)!r}"
                )

    def _is_fsal(self) -> bool:
        """First Same As Last: the last stage is evaluated at ``(t + h, y1)``."""
        s = len(self.c)
        if self.implicit:  # stiffly accurate with c_s = 1: the last stage value is y1
            return self.c[-1] == 1.0 and self.stiffly_accurate
        if s < 2 or self.c[-1] != 1.0:
            return False
        last = self.a[-1] + (0.0,)
        return all(abs(x - y) <= _TOL for x, y in zip(last, self.b, strict=True))
