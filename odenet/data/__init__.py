"""Data sets: synthetic generators, scikit-learn digits, and local-file MNIST / CIFAR-10.

Every ``load_*`` function returns a :class:`DataSplits`; nothing is ever downloaded.
"""

from __future__ import annotations

from odenet.data.cde_spirals import load_cde_spirals, make_cde_spirals
from odenet.data.cifar10 import load_cifar10, read_cifar_batch
from odenet.data.digits import load_digits
from odenet.data.mnist import load_mnist, read_idx
from odenet.data.splits import DataSplits
from odenet.data.synthetic import (
    load_annuli,
    load_eight_gaussians,
    load_irregular_spirals,
    load_two_moons,
    load_two_spirals,
    make_annuli,
    make_eight_gaussians,
    make_irregular_spirals,
    make_two_moons,
    make_two_spirals,
)

__all__ = [
    "DataSplits",
    "load_annuli",
    "load_cde_spirals",
    "load_cifar10",
    "load_digits",
    "load_eight_gaussians",
    "load_irregular_spirals",
    "load_mnist",
    "load_two_moons",
    "load_two_spirals",
    "make_annuli",
    "make_cde_spirals",
    "make_eight_gaussians",
    "make_irregular_spirals",
    "make_two_moons",
    "make_two_spirals",
    "read_cifar_batch",
    "read_idx",
]
