"""``odenet-train``: a thin ``@hydra.main`` around :func:`odenet.train.train`.

The configs ship inside the package as ``odenet.conf`` (the repository's top-level
``conf/``), so the command works after a plain ``pip install``.
"""

from __future__ import annotations

import os

import hydra
from omegaconf import DictConfig

from odenet.train.loop import train
from odenet.train.resolvers import register_resolvers

register_resolvers()


def _summary(result: dict) -> str:
    keys = [k for k in ("test_accuracy", "test_loss", "test_nfe_forward") if k in result]
    parts = [f"{k}={result[k]:.4f}" for k in keys]
    parts.append(f"params={result['params']}")
    parts.append(f"time={result['wall_time_s']:.1f}s")
    if result.get("diverged"):
        return f"odenet-train stopped in epoch {result['epoch']}: diverged, " + " ".join(parts)
    return f"odenet-train finished after epoch {result['epoch']}: " + " ".join(parts)


@hydra.main(config_path="pkg://odenet.conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    """Compose the config, train, print the final test metrics; return the objective
    (``test_accuracy`` or ``test_loss``) for Hydra sweepers."""
    result = train(cfg)
    if int(os.environ.get("RANK", "0")) == 0:
        print(_summary(result), flush=True)
    return result.get("test_accuracy", result.get("test_loss"))
