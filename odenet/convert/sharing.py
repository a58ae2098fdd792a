"""Weight sharing: ``resnet_to_ode`` refuses blocks that share parameters or are repeated.

A stage becomes a ``DepthStack``: one row of parameters per block, each row its own copy.
Blocks that share weights (the same module used twice, as in a weight-tied ResNet, or a
parameter assigned to two blocks) would therefore be silently *untied*: the converted
model starts out equal, but training it, or ``refine``/``coarsen``, treats the copies as
independent. Worse, ``nn.Sequential`` lists a repeated module once in ``named_children``,
so a converter walking it would drop the repeats. So the converters refuse, naming the
module paths that share, and say how to untie deliberately.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from torch import nn

__all__ = ["SharedWeightsError", "SharingMap", "check_unshared", "sharing_map"]


class SharedWeightsError(ValueError):
    """Residual blocks that share parameters (or a block used twice) cannot be converted."""


SharingMap = dict[int, list[str]]
"""``id(module or parameter) -> every name it has in the model`` (only those with 2+)."""


def sharing_map(model: nn.Module) -> SharingMap:
    """Modules and parameters of ``model`` reachable under more than one name."""
    names: defaultdict[int, list[str]] = defaultdict(list)
    for name, module in model.named_modules(remove_duplicate=False):
        names[id(module)].append(name)
    for name, param in model.named_parameters(remove_duplicate=False):
        names[id(param)].append(name)
    return {k: v for k, v in names.items() if len(v) > 1}


def _message(path: str, kind: str, where: list[str]) -> str:
    shown = ", ".join(repr(w) for w in where[:4]) + (", ..." if len(where) > 4 else "")
    return (
        f"resnet_to_ode: block {path!r} shares weights: {kind} is also reachable as {shown}. "
        "The ODE holds a separate copy of each block's weights along depth, so converting "
        "would silently untie them (and nn.Sequential lists a repeated module only once, "
        "so repeats would be dropped). Converting weight-tied blocks is refused. To convert "
        "them as independent blocks, untie them first, e.g. "
        "model.layer[2] = copy.deepcopy(model.layer[2]); for a weight-tied ResNet (one "
        "block applied L times) use an autonomous ODEBlock over that block's field instead."
    )


def check_unshared(blocks: Sequence[nn.Module], paths: Sequence[str], shared: SharingMap) -> None:
    """Raise ``SharedWeightsError`` if a block (or one of its parameters) is in ``shared``.

    A shared module *inside* blocks that has no parameters (e.g. one ``nn.ReLU`` used by
    every block) is harmless and allowed.
    """
    for block, path in zip(blocks, paths, strict=True):
        if id(block) in shared:
            others = [n for n in shared[id(block)] if n != path]
            raise SharedWeightsError(_message(path, "the block itself", others))
        for pname, param in block.named_parameters():
            if id(param) in shared:
                full = f"{path}.{pname}" if path else pname
                others = [n for n in shared[id(param)] if n != full]
                raise SharedWeightsError(_message(path, f"parameter {pname!r}", others))
