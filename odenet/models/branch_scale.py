"""Branch scales ``s`` of a residual stack of ``L`` blocks.

- ``"1"``: the standard ResNet (He et al. 2016).
- ``"1/L"``: the ODE scaling; the stack is L Euler steps of size 1/L on [0, 1].
- ``"1/sqrt(L)"``: the diffusion / Depth-muP scaling (Yang, Yu, Zhu, Hayou, "Tensor
  Programs VI: Feature learning in infinite-depth neural networks", 2023; Hayou & Yang,
  "Width and depth limits commute in residual networks", ICML 2023).
- a float: used as given.
"""

from __future__ import annotations

import math

SCALES = ("1", "1/L", "1/sqrt(L)")


def branch_scale(scale: str | float, num_blocks: int) -> float:
    """The float scale for ``num_blocks`` blocks from a name in ``SCALES`` or a number."""
    if isinstance(scale, (int, float)) and not isinstance(scale, bool):
        return float(scale)
    if scale == "1":
        return 1.0
    if scale == "1/L":
        return 1.0 / num_blocks
    if scale == "1/sqrt(L)":
        return 1.0 / math.sqrt(num_blocks)
    raise ValueError(f"scale must be one of {SCALES} or a float; got {scale!r}.")
