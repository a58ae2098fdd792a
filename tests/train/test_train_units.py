"""The small pieces of odenet.train: device choice, RNG capture, resolvers, metrics file,
objectives."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from odenet.train.device import resolve_device
from odenet.train.metrics import MetricsLogger, read_metrics
from odenet.train.objectives import Classification, Density, TimeSeries, objective_for
from odenet.train.resolvers import step_size
from odenet.train.seeding import rng_state, seed_everything, set_rng_state


def test_auto_device_is_cuda_exactly_when_available() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"trainer.device='cuda'.*trainer.device=auto"):
            resolve_device("cuda")


def test_rng_state_round_trip_replays_every_generator() -> None:
    seed_everything(123)
    state = rng_state()
    first = (random.random(), np.random.rand(), torch.rand(3))
    set_rng_state(state)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])


def test_step_size_resolver() -> None:
    assert step_size(1.0, 4) == 0.25 and step_size(6.0, 3) == 2.0
    assert step_size(1.0, None) is None
    with pytest.raises(ValueError, match=r"solver\.steps must be a positive integer"):
        step_size(1.0, 0)


def test_metrics_file_is_rewritten_from_the_checkpoint_history(tmp_path: Path) -> None:
    logger = MetricsLogger(tmp_path, tensorboard=False)
    for epoch in (1, 2, 3):
        logger.log({"epoch": epoch, "loss": 1.0 / epoch})
    # a run killed after writing epoch 3's line but before its checkpoint resumes from 2
    MetricsLogger(tmp_path, history=read_metrics(tmp_path)[:2], tensorboard=False)
    assert [r["epoch"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]


def test_classification_statistics_are_sums() -> None:
    model = nn.Linear(2, 3)
    x, y = torch.randn(5, 2), torch.tensor([0, 1, 2, 0, 1])
    loss, stats = Classification().loss(model, [x, y])
    logits = model(x)
    torch.testing.assert_close(stats["loss"], nn.functional.cross_entropy(logits, y) * 5)
    assert stats["accuracy"] == (logits.argmax(1) == y).sum() and stats["count"] == 5
    assert loss.requires_grad


class _Gaussian(nn.Module):
    """log N(x; mu, I) in 2-D; ``forward`` is ``log_prob`` like the CNF."""

    def __init__(self) -> None:
        super().__init__()
        self.mu = nn.Parameter(torch.tensor([1.0, -1.0]))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return -0.5 * (x - self.mu).pow(2).sum(1) - math.log(2 * math.pi)

    forward = log_prob


def test_density_loss_is_the_mean_negative_log_likelihood() -> None:
    model, x = _Gaussian(), torch.randn(7, 2)
    loss, stats = Density().loss(model, [x])
    torch.testing.assert_close(loss, -model.log_prob(x).mean())
    torch.testing.assert_close(stats["loss"], -model.log_prob(x).sum().detach())
    loss.backward()  # d/dmu of the mean NLL is mu - mean(x)
    torch.testing.assert_close(model.mu.grad, (model.mu - x.mean(0)).detach())


def test_objectives_check_the_model_interface() -> None:
    with pytest.raises(TypeError, match="log_prob"):
        objective_for("density", nn.Linear(2, 2))
    with pytest.raises(TypeError, match="elbo"):
        objective_for("time_series", nn.Linear(2, 2))
    with pytest.raises(ValueError, match="no training objective for data task 'ranking'"):
        objective_for("ranking", nn.Linear(2, 2))


def test_time_series_batches_must_share_their_grid() -> None:
    times = torch.tensor([[0.0, 1.0], [0.0, 2.0]])
    batch = [times, torch.zeros(2, 2, 1), torch.ones(2, 2)]
    with pytest.raises(ValueError, match="share one time grid"):
        TimeSeries().loss(nn.Identity(), batch)


def test_console_scripts_point_at_the_entry_functions() -> None:
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts["odenet-train"] == "odenet.train.cli:main"
    assert scripts["odenet-sweep-summary"] == "odenet.train.sweep_summary:main"
