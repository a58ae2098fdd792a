"""Which modules are residual blocks, and how to read ``block(x) = x + residual(x)`` off them.

A ``BlockRule`` says how to compute the residual ``r(x) = block(x) - x`` of a block from
its parameters, buffers and a few float attributes (``scalars``). The converters evaluate
``r`` with parameters interpolated along depth (``torch.func.functional_call``), so
``residual_fn`` must read every weight from the block's parameters and buffers, never from
tensors stored elsewhere.

Lookup order: a class registered with :func:`register_block` (or a base class of it), then
the structural matchers (odenet's own blocks and torchvision-shaped blocks are registered
in ``odenet.convert.builtin_blocks``).

Adding a block type (one function)::

    from odenet.convert import register_block

    class MyBlock(nn.Module):          # forward(x) = x + self.mlp(x)
        ...

    register_block(MyBlock, lambda block, x: block.mlp(x))

``lambda block, x: block(x) - x`` works for any shape-preserving block whose forward reads
its own parameters, at the cost of one rounding of ``x`` per block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

ResidualFn = Callable[[nn.Module, torch.Tensor], torch.Tensor]
"""``residual_fn(block, x) -> block(x) - x``: ``x: (batch, *state) -> (batch, *state)``."""


def _always(block: nn.Module) -> bool:
    return True


@dataclass(frozen=True)
class BlockRule:
    """How the converters read one kind of residual block.

    Attributes:
        name: shown in messages and reports.
        residual_fn: ``(block, x) -> block(x) - x`` (see ``ResidualFn``).
        scalars: names of float attributes of the block that vary from block to block and
            enter ``residual_fn`` (e.g. ``scale``); they are interpolated along depth like
            the parameters.
        convertible: ``block -> bool``; False for blocks that are recognised but stay
            discrete (e.g. a downsampling block that changes the shape).
        rescale: optional ``(block, c) -> module`` computing ``x + c * residual(x)`` in the
            block's own class (used when unrolling with a step other than the original);
            ``None``: a generic ``ScaledResidual`` wrapper is used.
        note: one line for the documentation and the report (e.g. the post-activation
            form).
        expected_children: for rules found by a structural matcher, the names of the child
            modules that ``residual_fn`` accounts for; a matched block with any other child
            is refused by the converters (its forward may use it). ``None``: no check (rules
            of registered classes, whose author declared the residual).
    """

    name: str
    residual_fn: ResidualFn
    scalars: tuple[str, ...] = ()
    convertible: Callable[[nn.Module], bool] = _always
    rescale: Callable[[nn.Module, float], nn.Module] | None = None
    note: str = ""
    expected_children: frozenset[str] | None = None


_BY_CLASS: dict[type, BlockRule] = {}
_MATCHERS: list[tuple[Callable[[nn.Module], bool], BlockRule]] = []


def register_block(
    cls: type,
    residual_fn: ResidualFn,
    *,
    scalars: tuple[str, ...] = (),
    convertible: Callable[[nn.Module], bool] | None = None,
    rescale: Callable[[nn.Module, float], nn.Module] | None = None,
    note: str = "",
) -> BlockRule:
    """Register ``cls`` (and its subclasses) as a residual block ``x + residual_fn(block, x)``.

    Args:
        cls: an ``nn.Module`` subclass.
        residual_fn: ``(block, x) -> block(x) - x``, reading weights only from the block's
            parameters and buffers.
        scalars: float attributes that differ between blocks and enter ``residual_fn``.
        convertible: ``block -> bool``; blocks for which it is False stay discrete.
        rescale: optional ``(block, c) -> x + c * residual`` module of the same kind.
        note: a line describing the converted field.

    Returns the stored ``BlockRule``; registering a class again replaces its rule.
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(
            f"cls must be an nn.Module subclass; got {cls!r}. Pass the block class itself, "
            "e.g. register_block(MyBlock, lambda block, x: block(x) - x)."
        )
    if not callable(residual_fn):
        raise TypeError(
            f"residual_fn must be callable (block, x) -> block(x) - x; got {residual_fn!r}."
        )
    if isinstance(scalars, str) or not all(isinstance(s, str) for s in scalars):
        raise TypeError(f"scalars must be a tuple of attribute names; got {scalars!r}.")
    rule = BlockRule(
        name=cls.__name__,
        residual_fn=residual_fn,
        scalars=tuple(scalars),
        convertible=_always if convertible is None else convertible,
        rescale=rescale,
        note=note,
    )
    _BY_CLASS[cls] = rule
    return rule


def unregister_block(cls: type) -> None:
    """Remove the rule registered for ``cls`` (no error if there is none)."""
    _BY_CLASS.pop(cls, None)


def register_matcher(predicate: Callable[[nn.Module], bool], rule: BlockRule) -> None:
    """Recognise blocks by structure: ``predicate(module)`` True means ``rule`` applies.
    Matchers are tried in registration order, after the registered classes."""
    _MATCHERS.append((predicate, rule))


def find_rule(module: nn.Module) -> BlockRule | None:
    """The rule for ``module``: its class or nearest registered base class, then the
    structural matchers; ``None`` if it is not a known residual block."""
    for cls in type(module).__mro__:
        if cls in _BY_CLASS:
            return _BY_CLASS[cls]
    for predicate, rule in _MATCHERS:
        if predicate(module):
            return rule
    return None


def registration_hint(cls_name: str) -> str:
    """The two lines that register a block class, for error messages."""
    return (
        "from odenet.convert import register_block\n"
        f"    register_block({cls_name}, lambda block, x: block(x) - x)  "
        "# or a faster exact residual, e.g. lambda block, x: block.branch(x)"
    )
