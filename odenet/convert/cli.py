"""``odenet-convert``: a thin ``@hydra.main`` around :func:`odenet.convert.run.convert_run`
(config: ``conf/convert.yaml``, shipped as ``odenet.conf``)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from odenet.convert.run import convert_run
from odenet.train.resolvers import register_resolvers

register_resolvers()


@hydra.main(config_path="pkg://odenet.conf", config_name="convert", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    """Convert, evaluate and write; print a one-line summary."""
    summary = convert_run(cfg)
    orig, conv = summary["original"], summary["converted"]
    print(
        f"odenet-convert: stages {summary['stages']}; original loss {orig['loss']:.4f}, "
        f"converted ({conv['method']}) loss {conv['loss']:.4f}; wrote {summary['checkpoint']}",
        flush=True,
    )
    return conv["accuracy"] if conv["accuracy"] is not None else conv["loss"]


if __name__ == "__main__":
    main()
