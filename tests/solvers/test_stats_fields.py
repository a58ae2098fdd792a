"""``Solution.stats`` shows every counter, the implicit methods' Jacobians and LU
factorisations included, and the docs that print it name every field."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch

import odenet
from odenet.solving.solution import Stats

ROOT = Path(__file__).resolve().parents[2]
FIELDS = [f.name for f in dataclasses.fields(Stats)]


def _solve(method: str) -> odenet.Solution:
    # a stiff linear system: eigenvalues -100 and -1
    a = torch.tensor([[-100.0, 1.0], [0.0, -1.0]], dtype=torch.float64)
    y0 = torch.ones(3, 2, dtype=torch.float64)
    t = torch.linspace(0.0, 1.0, 3, dtype=torch.float64)
    return odenet.solve(lambda t, y: y @ a.T, y0, t, method=method, rtol=1e-6, atol=1e-8)


def test_stats_has_the_implicit_counters() -> None:
    assert {"n_jacobians", "n_lu"} <= set(FIELDS)


@pytest.mark.parametrize("method", ["kvaerno5", "rodas5"])
def test_implicit_solve_counts_jacobians_and_lu(method: str) -> None:
    stats = _solve(method).stats
    text = repr(stats)
    for name in FIELDS:
        assert f"{name}={getattr(stats, name)!r}" in text, name
    # every step factorises its own matrix (it depends on h); Kvaerno5 reuses its
    # Jacobian across steps, Rodas5 forms one per step
    assert 1 <= stats.n_jacobians <= stats.n_lu
    assert stats.n_lu >= stats.n_accepted


def test_explicit_solve_reports_zero_jacobians() -> None:
    stats = _solve("dopri5").stats
    assert stats.n_jacobians == 0 and stats.n_lu == 0
    assert "n_jacobians=0, n_lu=0" in repr(stats)


def test_stats_docstring_documents_every_field() -> None:
    doc = Stats.__doc__ or ""
    for name in FIELDS:
        assert re.search(rf"^\s+{name}:", doc, flags=re.M), name


@pytest.mark.parametrize("page", ["README.md", "docs/solving.md"])
def test_printed_stats_in_the_docs_name_every_field(page: str) -> None:
    text = (ROOT / page).read_text()
    (shown,) = re.findall(r"sol\.stats  # Stats\((.*?)\)", text, flags=re.S)
    for name in FIELDS:
        assert f"{name}=" in shown, f"{page}: the printed Stats lacks {name}"
