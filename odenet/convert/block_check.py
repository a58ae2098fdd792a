"""Guards for blocks recognised by structure (attribute names) rather than by class.

A structural matcher (``odenet.convert.builtin_blocks``) sees a block's attribute names,
not its forward. Before such a block is converted:

1. its child modules must lie within the rule's ``expected_children``: any other child
   (e.g. a squeeze-excite ``se``) may be used in the forward and is not in the residual,
   so the block is refused (``UnexpectedBlockError``) with the fix: ``register_block``;
2. it is probed once on a small random input ``x`` of shape ``(2, C)`` (first layer
   ``Linear``) or ``(2, C, 8[, 8[, 8]])`` (first layer ``Conv1d/2d/3d``) in the block's
   dtype: ``block(x)`` must equal ``x + residual_fn(block, x)`` to a relative ``1e-4``
   (float32) or ``1e-9`` (float64). Blocks whose input shape cannot be read off their
   first layer, or whose forward fails on the probe, are not probed; ``check_input`` in
   ``resnet_to_ode`` then remains the check on real input.
"""

from __future__ import annotations

import torch
from torch import nn

from odenet.convert.registry import BlockRule, registration_hint

PROBE_SIZE = 8
"""Spatial size of the probe input of a convolutional block."""


class UnexpectedBlockError(ValueError):
    """A block recognised by structure does not compute the residual its rule assumes."""


class UncheckedBlockWarning(UserWarning):
    """Blocks recognised by structure were converted without running their forward."""


def _channels(norm: nn.Module) -> int | None:
    """Channels a normalisation layer is built for (BatchNorm/InstanceNorm/GroupNorm)."""
    value = getattr(norm, "num_features", getattr(norm, "num_channels", None))
    return value if isinstance(value, int) else None


def wiring_problem(block: nn.Module, rule: BlockRule) -> str | None:
    """Why ``block``'s layers cannot be the chain its names describe, or ``None``.

    Checks, without running anything, that ``conv_i`` feeds ``bn_i`` (channels), ``conv_i``
    feeds ``conv_{i+1}``, every conv has stride 1 and the last conv gives back the input's
    channels (the block has no downsample, so it must preserve the shape). Layers that are
    not convolutions or normalisations with a channel count are not checked.
    """
    n = 3 if rule.expected_children is not None and "conv3" in rule.expected_children else 2
    convs = [getattr(block, f"conv{i}", None) for i in range(1, n + 1)]
    norms = [getattr(block, f"bn{i}", None) for i in range(1, n + 1)]
    if not all(isinstance(c, nn.modules.conv._ConvNd) for c in convs):
        return None
    for i, (conv, norm) in enumerate(zip(convs, norms, strict=True), start=1):
        if any(s != 1 for s in conv.stride):
            return f"conv{i} has stride {conv.stride} but the block has no downsample"
        c = _channels(norm) if isinstance(norm, nn.Module) else None
        if c is not None and c != conv.out_channels:
            return f"bn{i} is built for {c} channels but conv{i} gives {conv.out_channels}"
        if i < n and convs[i].in_channels != conv.out_channels:
            return (
                f"conv{i + 1} takes {convs[i].in_channels} channels but conv{i} gives "
                f"{conv.out_channels}"
            )
    if convs[-1].out_channels != convs[0].in_channels:
        return (
            f"conv{n} gives {convs[-1].out_channels} channels but conv1 takes "
            f"{convs[0].in_channels}, so x + g(x) cannot be formed"
        )
    return None


def unexpected_children(block: nn.Module, rule: BlockRule) -> list[str]:
    """Names of the child modules of ``block`` outside ``rule.expected_children``."""
    if rule.expected_children is None:
        return []
    return [n for n, _ in block.named_children() if n not in rule.expected_children]


def _fix(block: nn.Module) -> str:
    cls = type(block).__name__
    return (
        f"If {cls} computes x + g(x) with the shape of x, register it so that its own forward "
        "is used:\n    " + registration_hint(cls) + "\n"
        "resnet_to_ode(model, check_input=x) then compares the converted model with the "
        "original on your input x."
    )


def probe_input(block: nn.Module) -> torch.Tensor | None:
    """A small random input for ``block`` from its first Linear/Conv layer, or ``None``."""
    first = next(
        (m for m in block.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))),
        None,
    )
    if first is None:
        return None
    gen = torch.Generator().manual_seed(0)
    dtype = first.weight.dtype
    if isinstance(first, nn.Linear):
        shape: tuple[int, ...] = (2, first.in_features)
    else:
        shape = (2, first.in_channels) + (PROBE_SIZE,) * (first.weight.ndim - 2)
    return torch.randn(shape, generator=gen, dtype=dtype).to(first.weight.device)


@torch.no_grad()
def probe_error(block: nn.Module, rule: BlockRule) -> float | None:
    """``max |block(x) - x - r(x)| / max |block(x)|`` on ``probe_input(block)``; ``None``
    when the block cannot be probed (no input shape, or its forward fails on the probe)."""
    x = probe_input(block)
    if x is None:
        return None
    try:
        want = block(x.clone())
        got = x + rule.residual_fn(block, x.clone())
    except (RuntimeError, ValueError, TypeError):
        return None
    if want.shape != got.shape:
        return float("inf")
    return float((got - want).abs().max() / want.abs().max().clamp_min(1e-30))


def check_structural_match(
    block: nn.Module, rule: BlockRule, path: str, probe: bool = True
) -> None:
    """Refuse a structurally matched ``block`` (at module path ``path``) whose children go
    beyond ``rule.expected_children``, whose layers are not wired as their names say
    (:func:`wiring_problem`) or (if ``probe``) whose forward disagrees with the rule on a
    probe input. Without the probe, a block whose forward uses its layers otherwise than
    its names say (e.g. drops the final relu) is not detected: that is the risk of
    ``probe_blocks=False`` (``resnet_to_ode`` warns unless ``check_input`` is given).
    Rules without ``expected_children`` (registered classes) are not checked."""
    if rule.expected_children is None:
        return
    where = f"module {path!r} ({type(block).__name__})" if path else type(block).__name__
    extra = unexpected_children(block, rule)
    if extra:
        raise UnexpectedBlockError(
            f"resnet_to_ode: {where} has the attributes of a {rule.name} block but also the "
            f"child module(s) {extra}, which the {rule.name} residual does not use (it "
            f"expects only {sorted(rule.expected_children)}); its forward probably uses them, "
            "so converting it by structure would be wrong. " + _fix(block)
        )
    wiring = wiring_problem(block, rule)
    if wiring is not None:
        raise UnexpectedBlockError(
            f"resnet_to_ode: {where} has the attributes of a {rule.name} block, but its "
            f"layers are not wired as those names say: {wiring}. " + _fix(block)
        )
    if not probe:
        return
    err = probe_error(block, rule)
    dtypes = {p.dtype for p in block.parameters()}
    tol = 1e-9 if dtypes == {torch.float64} else 1e-4
    if err is not None and not err <= tol:
        raise UnexpectedBlockError(
            f"resnet_to_ode: {where} has the attributes of a {rule.name} block, but on a small "
            f"random input its forward differs from the {rule.name} residual ({rule.note}) by "
            f"{err:.3g} (relative, > {tol}). " + _fix(block)
        )
