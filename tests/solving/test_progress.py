"""progress=True: the bar runs to the end of the span, closes, and changes nothing."""

from __future__ import annotations

import pytest
import torch
from tqdm import tqdm

import odenet
from odenet.errors import MaxStepsReached
from odenet.solving.progress import ProgressBar

D = torch.float64


class Field(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 2).to(D)

    def forward(self, t, y):
        return self.lin(y)


def _open_bars() -> int:
    return len(getattr(tqdm, "_instances", ()))


@pytest.mark.parametrize(
    ("kw", "gradient"),
    [({}, None), ({"method": "rk4", "n_steps": 20}, None), ({}, "adjoint"), ({}, "checkpoint")],
)
def test_progress_bar_runs_closes_and_changes_nothing(capsys, kw, gradient):
    f = Field()
    y0 = torch.tensor([[1.0, 0.5]], dtype=D)
    t = torch.linspace(0, 2, 5, dtype=D)
    before = _open_bars()
    with_bar = odenet.odeint(f, y0, t, progress=True, gradient=gradient, **kw)
    plain = odenet.odeint(f, y0, t, gradient=gradient, **kw)
    torch.testing.assert_close(with_bar, plain, rtol=0, atol=0)
    assert _open_bars() == before
    err = capsys.readouterr().err
    assert "100%" in err and "t 2/2" in err


def test_bar_follows_steps_backwards_in_time_and_closes_on_error(capsys):
    t = torch.tensor([1.0, 0.0], dtype=D)
    odenet.solve(lambda s, y: -y, torch.ones(1, dtype=D), t, progress=True)
    assert "100%" in capsys.readouterr().err
    before = _open_bars()
    with pytest.raises(MaxStepsReached):
        odenet.solve(lambda s, y: -y, torch.ones(1, dtype=D), t, max_steps=3, progress=True)
    assert _open_bars() == before


def test_progress_bar_counts_reached_time():
    bar = ProgressBar(0.0, 4.0, disable=True)
    bar.reached(1.0)
    bar.reached(0.5)  # never moves back
    assert bar.done == 1.0
    bar.close(finished=False)
    bar.reached(3.0)  # ignored once closed
    assert bar.done == 1.0 and bar.closed


def test_progress_refuses_independent_mode():
    with pytest.raises(ValueError, match="joint"):
        odenet.solve(
            lambda s, y: -y,
            torch.ones(2, 1, dtype=D),
            torch.tensor([0.0, 1.0], dtype=D),
            batch_mode="independent",
            progress=True,
        )


def test_open_ended_event_search_shows_the_time_reached(capsys):
    """t = [0, inf] with an event: the bar has no total (tqdm used to raise a raw
    TypeError formatting total=inf) and the event time is the closed form."""
    import math

    def fall(s, y):
        return torch.stack([y[1], torch.full_like(y[0], -9.81)])

    y0 = torch.tensor([1.0, 0.0], dtype=D)
    t = torch.tensor([0.0, math.inf], dtype=D)
    before = _open_bars()
    sol = odenet.solve(fall, y0, t, event_fn=lambda s, y: y[0], progress=True)
    assert abs(float(sol.event_t) - math.sqrt(2 / 9.81)) < 1e-9
    assert _open_bars() == before
    err = capsys.readouterr().err
    assert "\rt 0.1" in err and "/" not in err  # the time reached (a step start), no total
