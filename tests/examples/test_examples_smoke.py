"""Smoke tests: each example runs in a shortened form and returns sane figures."""

from __future__ import annotations

import importlib.util
import math
import struct
import sys
import zlib
from pathlib import Path
from types import ModuleType

import torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (its folder on sys.path for helpers)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_png(path: Path) -> torch.Tensor:
    """Decode an 8-bit RGB PNG without filters (as written by ``examples/_png.py``)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + body)
        chunks[tag] = chunks.get(tag, b"") + body
        pos += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = [raw[r * (3 * width + 1) + 1 : (r + 1) * (3 * width + 1)] for r in range(height)]
    return torch.tensor([list(r) for r in rows], dtype=torch.uint8).reshape(height, width, 3)


def test_png_writer_roundtrip(tmp_path: Path) -> None:
    png = load_example("_png")
    rgb = torch.randint(0, 256, (5, 7, 3), dtype=torch.uint8)
    png.write_png(tmp_path / "x.png", rgb)
    assert torch.equal(read_png(tmp_path / "x.png"), rgb)
    ramp = png.colormap(torch.tensor([[0.0, 1.0]]))
    assert ramp[0, 0].tolist() == [13, 8, 135] and ramp[0, 1].tolist() == [240, 249, 33]


def test_spiral_fit_short() -> None:
    out = load_example("spiral_fit").main(["--iters", "15", "--n-points", "200"])
    assert math.isfinite(out["mse_after"]) and out["mse_after"] < out["mse_before"]


def test_cnf_density_short(tmp_path: Path) -> None:
    out_png = tmp_path / "cnf.png"
    args = ["--iters", "3", "--grid", "12", "--samples", "300", "--out", str(out_png)]
    result = load_example("cnf_density").main(args)
    assert result["log_likelihood_after"] > result["log_likelihood_before"]
    image = read_png(out_png)
    assert image.shape == (3 * 12, 3 * (2 * 12 + 1), 3)


def test_annuli_short() -> None:
    args = ["--iters", "40", "--n", "128", "--hidden", "16", "--method", "rk4"]
    out = load_example("annuli").main([*args, "--step-size", "0.25"])
    assert out["augmented"] >= 0.95  # the augmented ODE separates the classes quickly
    assert 0.5 <= out["plain"] <= 1.0


def test_digits_odenet_short() -> None:
    out = load_example("digits_odenet").main(
        ["--epochs", "1", "--limit", "256", "--channels", "8", "--step-size", "0.5"]
    )
    assert out["nfe"] == 8  # rk4, 2 steps
    assert 0.0 <= out["test_accuracy"] <= 1.0 and out["seconds"] > 0


def test_ncde_spirals_short() -> None:
    out = load_example("ncde_spirals").main(["--epochs", "1", "--n-train", "32", "--n-test", "16"])
    for model in ("ncde", "odernn_classifier"):
        assert 0.0 <= out[model]["test_accuracy"] <= 1.0 and out[model]["seconds"] > 0
