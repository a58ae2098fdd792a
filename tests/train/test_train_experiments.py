"""Every experiment in ``conf/experiment/`` runs one tiny epoch (list read from the folder)."""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import pytest
from train_helpers import compose_cfg

from odenet.train import read_metrics, train

EXPERIMENTS = sorted(
    p.name[:-5]
    for p in (resources.files("odenet.conf") / "experiment").iterdir()
    if p.name.endswith(".yaml")
)

# shrink each data set so that one epoch takes seconds; keyed by data.name
TINY_DATA = {
    "digits": ["data.dataset.test_fraction=0.9", "data.batch_size=60"],
    "annuli": ["data.dataset.n_train=128", "data.dataset.n_test=64"],
    "eight_gaussians": ["data.dataset.n_train=64", "data.dataset.n_test=32"],
    "irregular_spirals": [
        "data.dataset.n_train=16",
        "data.dataset.n_test=8",
        "data.dataset.n_times=12",
        "data.batch_size=8",
    ],
    "cde_spirals": [
        "data.dataset.n_train=32",
        "data.dataset.n_test=16",
        "data.dataset.n_times=12",
        "data.batch_size=16",
    ],
}
TINY_MODEL = {"odenet.models.ODENet": ["model.channels=4"]}


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_one_tiny_epoch(name: str, tmp_path: Path) -> None:
    cfg = compose_cfg([f"experiment={name}"], tmp_path)
    tiny = TINY_DATA.get(cfg.data.name, []) + TINY_MODEL.get(cfg.model.get("_target_"), [])
    common = ["trainer.epochs=1", "trainer.num_threads=1", "trainer.tensorboard=false"]
    cfg = compose_cfg([f"experiment={name}", *common, *tiny], tmp_path)
    assert cfg.name == name
    result = train(cfg)
    assert result["epoch"] == 1
    assert math.isfinite(result["train_loss"]) and math.isfinite(result["test_loss"])
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1]
    if cfg.data.name == "eight_gaussians":
        # the NLL (a cross-entropy) is at least the mixture's entropy, about
        # log 8 + log(2 pi e 0.2^2) = 1.70 nats, whatever the flow
        assert result["test_loss"] > 1.0
    if cfg.data.name == "irregular_spirals":
        assert result["test_mse"] >= 0 and result["test_kl"] >= 0
    if "test_accuracy" in result:
        assert 0.0 <= result["test_accuracy"] <= 1.0
