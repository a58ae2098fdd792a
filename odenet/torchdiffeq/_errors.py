"""The exception torchdiffeq raises with ``assert`` on bad input, as a named odenet error."""

from __future__ import annotations

from ..errors import OdenetError

__all__ = ["TorchdiffeqInputError"]


class TorchdiffeqInputError(OdenetError, ValueError, AssertionError):
    """Bad input that torchdiffeq 0.2.5 rejects with a bare ``assert``.

    It is both a ``ValueError`` (odenet's convention) and an ``AssertionError`` (so code
    written against torchdiffeq that catches ``AssertionError`` keeps working).
    """
