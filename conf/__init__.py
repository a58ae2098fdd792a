"""odenet's Hydra configs, installed as the package ``odenet.conf`` (``pkg://odenet.conf``)."""
