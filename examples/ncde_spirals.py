"""Neural CDE vs ODE-RNN on irregular spirals with 30% of the points missing.

Kidger et al. 2020 (neural CDEs) against Rubanova et al. 2019 (ODE-RNN): classify a noisy
spiral as clockwise or anticlockwise from 50 irregularly spaced observations of which 30%
are missing (NaN). The neural CDE interpolates the series (natural cubic spline over the
missing points) and solves dz = f(z) dX; the ODE-RNN evolves its state by an ODE between
observations and updates it with a GRU at each one.

Both models train with the Hydra experiment ``conf/experiment/ncde_spirals.yaml`` (the
configuration ``odenet-train -m experiment=ncde_spirals`` runs), in this one process, and
their test accuracies and times are printed.

Run: ``python examples/ncde_spirals.py`` (a few minutes on one CPU core); shorten with
``--epochs 1 --n-train 64``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from hydra import compose, initialize_config_module

from odenet.train import train

MODELS = ("ncde", "odernn_classifier")


def run(model: str, epochs: int, n_train: int, n_test: int, run_dir: str) -> dict[str, float]:
    """Train ``model`` with the ncde_spirals experiment; test accuracy, seconds, epochs."""
    overrides = [
        "experiment=ncde_spirals",
        f"model={model}",
        f"trainer.epochs={epochs}",
        f"data.dataset.n_train={n_train}",
        f"data.dataset.n_test={n_test}",
        "trainer.num_threads=1",
        "trainer.tensorboard=false",
        "resume=false",
        f"run_dir={run_dir}",
    ]
    with initialize_config_module(config_module="odenet.conf", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    start = time.perf_counter()
    result = train(cfg)
    seconds = time.perf_counter() - start
    return {"test_accuracy": result["test_accuracy"], "seconds": seconds}


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n-train", type=int, default=500)
    parser.add_argument("--n-test", type=int, default=200)
    args = parser.parse_args(argv)
    out = {}
    for model in MODELS:
        with tempfile.TemporaryDirectory() as run_dir:
            out[model] = run(model, args.epochs, args.n_train, args.n_test, run_dir)
        print(
            f"{model:18s} test accuracy {out[model]['test_accuracy']:.3f}   "
            f"train+eval time {out[model]['seconds']:.1f} s ({args.epochs} epochs)"
        )
    return out


if __name__ == "__main__":
    main()
