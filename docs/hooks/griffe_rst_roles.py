"""griffe extension: Sphinx roles in odenet's docstrings rendered as code.

The docstrings cite other objects the Sphinx way (``:class:`~odenet.solvers.Dopri5```);
Markdown has no such roles, so they are rewritten to code spans: ``~`` keeps the last
component (as Sphinx displays it), otherwise the full path.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")


def rewrite_roles(text: str) -> str:
    """``:class:`~a.b.C``` -> ```C```; ``:func:`a.b``` -> ```a.b```."""

    def code(match: re.Match[str]) -> str:
        short, target = match.group(1), match.group(2)
        return f"`{target.rsplit('.', 1)[-1] if short else target}`"

    return ROLE.sub(code, text)


class RstRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite_roles(obj.docstring.value)
