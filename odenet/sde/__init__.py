"""Neural SDEs on torchsde: :class:`SDEBlock`, seeded Brownian motion, solver capabilities."""

from __future__ import annotations

from odenet.sde.block import SDEBlock
from odenet.sde.brownian import draw_seed, make_brownian
from odenet.sde.capabilities import SDE_METHODS, SDEMethodInfo, check_method

__all__ = ["SDE_METHODS", "SDEBlock", "SDEMethodInfo", "check_method", "draw_seed", "make_brownian"]
