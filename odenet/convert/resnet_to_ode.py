"""``resnet_to_ode``: every stage of consecutive shape-preserving residual blocks becomes an
``ODEBlock`` over an ``InterpolatedResidualField``; everything else stays discrete.

A stage is a maximal run of consecutive children of an ``nn.Sequential`` that are
recognised residual blocks (``odenet.convert.registry``) of one kind, convertible (shape
preserving) and of identical parameter shapes. A recognised block outside an
``nn.Sequential`` (an attribute, or an item of an ``nn.ModuleList``) becomes an ODE block of
one step. Each stage of ``L`` blocks is the ODE on ``t in [0, 1]`` solved with ``L`` Euler
steps of ``1/L``; with ``interpolation="constant"`` (or any interpolation, since all pass
through the nodes) the converted model reproduces the original up to rounding.
"""

from __future__ import annotations

import copy
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from odenet.convert.block_check import UncheckedBlockWarning, check_structural_match
from odenet.convert.field import InterpolatedResidualField
from odenet.convert.interpolation import check_interpolation
from odenet.convert.registry import BlockRule, find_rule, registration_hint
from odenet.convert.sharing import SharingMap, check_unshared, sharing_map
from odenet.nn.ode_block import ODEBlock
from odenet.solvers import get_method


class UnrecognisedModelError(ValueError):
    """The model holds no residual block that the converters recognise."""


@dataclass
class _Settings:
    interpolation: str
    method: Any
    rtol: float
    atol: float
    probe_blocks: bool = True
    shared: SharingMap = field(default_factory=dict)
    unprobed: list[str] = field(default_factory=list)


def check_eval_mode(model: nn.Module, caller: str) -> None:
    """Raise ValueError naming the first submodule in training mode."""
    for name, module in model.named_modules():
        if module.training:
            where = f"{name!r} ({type(module).__name__})" if name else type(module).__name__
            raise ValueError(
                f"{caller} needs the model in eval mode; {where} is in training mode. Call "
                "model.eval() first: BatchNorm then uses its running statistics (which become "
                "depth-varying parameters) and stochastic depth/dropout are deterministic."
            )


def _ode_block(
    blocks: list[nn.Module], names: list[str], rule: BlockRule, cfg: _Settings
) -> ODEBlock:
    check_unshared(blocks, names, cfg.shared)
    field = InterpolatedResidualField(blocks, rule, cfg.interpolation, (0.0, 1.0), names)
    return ODEBlock(
        field,
        t_span=(0.0, 1.0),
        method=cfg.method,
        rtol=cfg.rtol,
        atol=cfg.atol,
        step_size=None if get_method(cfg.method).adaptive else 1.0 / len(blocks),
    ).eval()


def _checked_rule(module: nn.Module, path: str, cfg: _Settings) -> BlockRule | None:
    """The rule of ``module`` if it is a convertible block (checked when it was matched by
    structure: ``odenet.convert.block_check``), else ``None``."""
    rule = find_rule(module)
    if rule is None or not rule.convertible(module):
        return None
    check_structural_match(module, rule, path, probe=cfg.probe_blocks)
    if rule.expected_children is not None and not cfg.probe_blocks:
        cfg.unprobed.append(path)
    return rule


def _runs(
    seq: nn.Sequential, path: str, cfg: _Settings
) -> list[tuple[list[str], BlockRule | None]]:
    """Split the children of ``seq`` into runs of convertible blocks of one kind and single
    other children (rule ``None``)."""
    runs: list[tuple[list[str], BlockRule | None]] = []
    prev_key = None
    for key, child in seq.named_children():
        rule = _checked_rule(child, _join(path, key), cfg)
        if rule is None:
            runs.append(([key], None))
            prev_key = None
            continue
        run_key = (id(rule), type(child))
        if run_key == prev_key:
            runs[-1][0].append(key)
        else:
            runs.append(([key], rule))
        prev_key = run_key
    return runs


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class _Converter:
    """Walks a (copied) model and replaces stages in place; records what it converted."""

    def __init__(self, cfg: _Settings) -> None:
        self.cfg = cfg
        self.stages: list[str] = []

    def convert(self, module: nn.Module, path: str) -> nn.Module:
        rule = find_rule(module)
        if rule is not None:
            if _checked_rule(module, path, self.cfg) is None:
                return module
            self.stages.append(path)
            return _ode_block([module], [path], rule, self.cfg)
        if isinstance(module, nn.Sequential):
            return self._sequential(module, path)
        for name, child in list(module.named_children()):
            module._modules[name] = self.convert(child, _join(path, name))
        return module

    def _sequential(self, seq: nn.Sequential, path: str) -> nn.Sequential:
        out: OrderedDict[str, nn.Module] = OrderedDict()
        for keys, rule in _runs(seq, path, self.cfg):
            if rule is None:
                out[keys[0]] = self.convert(seq._modules[keys[0]], _join(path, keys[0]))
                continue
            names = [_join(path, k) for k in keys]
            blocks = [seq._modules[k] for k in keys]
            self.stages.append(_join(path, keys[0]))
            out[keys[0]] = _ode_block(blocks, names, rule, self.cfg)
        new = nn.Sequential(out)
        new.train(seq.training)
        return new


RECOGNISED = (
    "odenet.models.ResidualBlock, modules shaped like torchvision's BasicBlock/Bottleneck "
    "(children conv1, bn1, conv2, bn2[, conv3, bn3], relu, downsample and nothing else) and "
    "classes given to register_block"
)


def _already_converted_message(model: nn.Module, names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:4]) + (", ..." if len(names) > 4 else "")
    return (
        f"resnet_to_ode: {type(model).__name__} is already converted: it contains "
        f"{len(names)} ODEBlock(s) ({shown}) and no residual block left to convert. Use it "
        "as it is (change solvers with block.method / block.step_size, or report(model, "
        "data)), or unroll it with ode_to_resnet(model, steps, method)."
    )


def _unrecognised_message(model: nn.Module) -> str:
    """Say what was looked for, and name the likeliest block (a child with submodules of a
    Sequential/ModuleList), or say the model is already converted."""
    cls = type(model).__name__
    converted = [n or cls for n, m in model.named_modules() if isinstance(m, ODEBlock)]
    if converted:
        return _already_converted_message(model, converted)
    candidates: list[tuple[str, str]] = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Sequential, nn.ModuleList)):
            for key, child in module.named_children():
                if next(child.children(), None) is not None:
                    candidates.append((_join(name, key), type(child).__name__))
    looked = f"resnet_to_ode found nothing to convert in {cls}: it looks for {RECOGNISED}, "
    if candidates:
        where, block_cls = candidates[0]
        return (
            looked + f"and module {where!r} ({block_cls}), the likeliest residual block, is "
            f"none of these. If {block_cls} computes x + g(x) with the shape of x, register "
            "it:\n    " + registration_hint(block_cls)
        )
    return (
        looked + "and found none (no nn.Sequential or nn.ModuleList in it has a child with "
        f"submodules). If {cls} itself computes x + g(x) with the shape of x, register it:\n"
        "    " + registration_hint(cls)
    )


def resnet_to_ode(
    model: nn.Module,
    *,
    interpolation: str = "constant",
    method: Any = "euler",
    rtol: float = 1e-3,
    atol: float = 1e-4,
    check_input: torch.Tensor | None = None,
    probe_blocks: bool = True,
) -> nn.Module:
    """A copy of ``model`` in which every stage of residual blocks is an ``ODEBlock``.

    Args:
        model: a ResNet in eval mode (not modified).
        interpolation: ``"constant"``, ``"linear"`` or ``"cubic"``: how the blocks' tensors
            are interpolated along depth.
        method, rtol, atol: solver settings of the new ODE blocks. A fixed-step method gets
            the step ``1/L`` for a stage of L blocks (an adaptive one no step); change
            settings later with ``block.method = "rk4"``, ``block.step_size = ...``.
        check_input: optional example input; when given, the converted model (with Euler
            at L steps) is run on it and compared with the original (relative tolerance
            ``1e-4`` in float32, ``1e-9`` in float64), catching blocks whose forward does
            not match their recognised structure.
        probe_blocks: run each block matched by structure (torchvision-shaped) once on a
            small random input and refuse it if ``block(x) != x + residual(x)``
            (``odenet.convert.block_check``; cheap: one forward per block, batch 2, 8x8).
            A structurally matched block with a child module outside the expected set
            (e.g. a squeeze-excite ``se``) or whose layers are not wired as its names say
            (channels of conv/bn, strides) is refused in any case. Pass ``check_input``
            as well to compare the whole model on real input. **Risk of**
            ``probe_blocks=False``: the forward of a name-matched block is never run, so a
            block whose forward differs from its names (e.g. no final relu) is converted
            to the wrong residual without an error; an ``UncheckedBlockWarning`` says so
            unless ``check_input`` is given.

    Returns:
        The converted model, in eval mode. Converted ``ODEBlock`` s are found with
        ``ode_blocks(model)``; their fields are ``InterpolatedResidualField`` s.

    Blocks that share weights (the same module used twice, or a parameter held by two
    blocks) are refused (``SharedWeightsError``, ``odenet.convert.sharing``): the ODE
    would hold separate copies, silently untying them.

    Raises:
        ValueError: model in training mode; weight-tied blocks (``SharedWeightsError``);
            blocks of one stage with differing shapes (``StageShapeError``); no recognised
            block, or the model already converted (``UnrecognisedModelError``); a block
            matched by structure with unexpected children, miswired layers or a forward
            that disagrees with its probe (``UnexpectedBlockError``, the fix:
            ``register_block``); ``check_input`` mismatch.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module; got {type(model).__name__}.")
    check_eval_mode(model, "resnet_to_ode")
    cfg = _Settings(
        check_interpolation(interpolation), method, float(rtol), float(atol), bool(probe_blocks)
    )
    converter = _Converter(cfg)
    copied = copy.deepcopy(model)  # (keeps sharing: a module used twice is copied once)
    cfg.shared = sharing_map(copied)
    converted = converter.convert(copied, "")
    if not converter.stages:
        raise UnrecognisedModelError(_unrecognised_message(model))
    if check_input is not None:
        check_conversion(model, converted, check_input)
    elif cfg.unprobed:
        _warn_unprobed(cfg.unprobed)
    return converted


def _warn_unprobed(paths: list[str]) -> None:
    shown = ", ".join(repr(p) for p in paths[:4]) + (", ..." if len(paths) > 4 else "")
    warnings.warn(
        f"resnet_to_ode(probe_blocks=False): {len(paths)} block(s) ({shown}) were recognised "
        "by their attribute names only; their wiring was checked but their forward was not "
        "run, so a block that computes something else than its names say is converted "
        "wrongly without an error. Pass check_input=x (a batch of real inputs) to compare "
        "the converted model with the original, or leave probe_blocks=True.",
        UncheckedBlockWarning,
        stacklevel=3,
    )


def ode_blocks(model: nn.Module) -> list[tuple[str, ODEBlock]]:
    """``(name, block)`` of every ``ODEBlock`` whose field is an ``InterpolatedResidualField``."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, ODEBlock) and isinstance(m.field, InterpolatedResidualField)
    ]


def check_conversion(original: nn.Module, converted: nn.Module, x: torch.Tensor) -> float:
    """Relative max error between ``original(x)`` and ``converted(x)`` solved with Euler at
    L steps per stage; raises ValueError above ``1e-4`` (float32) or ``1e-9`` (float64)."""
    blocks = ode_blocks(converted)
    saved = [(b.method, b.step_size) for _, b in blocks]
    try:
        for _, b in blocks:
            b.method, b.step_size = "euler", 1.0 / b.field.num_blocks  # type: ignore[union-attr]
        with torch.no_grad():
            want, got = original(x), converted(x)
    finally:
        for (_, b), (m, h) in zip(blocks, saved, strict=True):
            b.method, b.step_size = m, h
    err = float((got - want).abs().max() / want.abs().max().clamp_min(1e-30))
    tol = 1e-9 if want.dtype == torch.float64 else 1e-4
    if not err <= tol:
        raise ValueError(
            f"check_input: the converted model differs from the original by {err:.3g} "
            f"(relative, > {tol}); a block matched by structure probably computes something "
            "else in its forward. Register its class with register_block(cls, residual_fn)."
        )
    return err
