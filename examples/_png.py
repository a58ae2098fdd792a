"""A minimal PNG writer (RGB, 8 bit) so the examples need no plotting library."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import torch

# a perceptually ordered ramp (dark blue -> teal -> yellow), interpolated linearly
_RAMP = torch.tensor(
    [
        [13, 8, 135],
        [84, 2, 163],
        [139, 10, 165],
        [185, 50, 137],
        [219, 92, 104],
        [244, 136, 73],
        [254, 188, 43],
        [240, 249, 33],
    ],
    dtype=torch.float64,
)


def colormap(values: torch.Tensor) -> torch.Tensor:
    """Map ``values`` in [0, 1] of shape ``(H, W)`` to RGB ``(H, W, 3)`` uint8."""
    v = values.double().clamp(0, 1) * (len(_RAMP) - 1)
    lo = v.floor().long().clamp(max=len(_RAMP) - 2)
    frac = (v - lo)[..., None]
    return ((1 - frac) * _RAMP[lo] + frac * _RAMP[lo + 1]).round().to(torch.uint8)


def write_png(path: str | Path, rgb: torch.Tensor) -> None:
    """Write an ``(H, W, 3)`` uint8 image to ``path`` as a PNG file."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != torch.uint8:
        raise ValueError(
            f"rgb must be an (H, W, 3) uint8 tensor; got {tuple(rgb.shape)}, {rgb.dtype}"
        )
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + bytes(row.flatten().tolist()) for row in rgb)

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
    Path(path).write_bytes(png + chunk(b"IEND", b""))
