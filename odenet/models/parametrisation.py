"""Parametrisations of the ResNet family: ``"standard"`` and ``"depth_mup"``.

Depth-muP (Yang, Yu, Zhu & Hayou 2023, "Tensor Programs VI: Feature Learning in
Infinite-Depth Neural Networks", arXiv:2310.02244): a stack of L residual blocks gets the
branch multiplier 1/sqrt(L) and its parameters the learning rate ``eta`` with SGD and
``eta / sqrt(L)`` with Adam, while the layers outside the stacks (stem, downsampling, head)
keep ``eta``; initialisation is the usual depth-independent one. The rule, its derivation
and the multipliers are those of :mod:`odenet.limits.depth_mup`; this module applies them to
models with one stack (``MLPResNet.blocks``) or several (``ConvResNet.stages``, each stage
counting its own L, as its ``"1/L"`` scale does). ``"standard"`` keeps the model's ``scale``
and one lr for every parameter.
"""

from __future__ import annotations

from torch import nn

from odenet._depth_scaling import OPTIMIZERS, PARAMETRISATIONS, hidden_lr_multiplier
from odenet.nn._checks import check_choice


def parametrised_scale(parametrisation: str, scale: str | float | None) -> str | float:
    """The branch scale of ``parametrisation``: ``scale`` (``None``: ``"1/L"``) for
    ``"standard"``, ``"1/sqrt(L)"`` for ``"depth_mup"`` (which admits no other ``scale``)."""
    check_choice("parametrisation", parametrisation, PARAMETRISATIONS)
    if parametrisation == "standard":
        return "1/L" if scale is None else scale
    if scale not in (None, "1/sqrt(L)"):
        raise ValueError(
            f"parametrisation='depth_mup' sets the branch multiplier 1/sqrt(L); got "
            f"scale={scale!r}. Leave scale unset (None) or pass scale='1/sqrt(L)', or use "
            "parametrisation='standard' for another scale."
        )
    return "1/sqrt(L)"


def stack_param_groups(
    model: nn.Module,
    stacks: dict[str, nn.Sequential],
    lr: float,
    optimizer: str,
    parametrisation: str,
) -> list[dict]:
    """``torch.optim`` parameter groups for base lr ``lr``.

    ``"standard"``: one group of every parameter at ``lr``. ``"depth_mup"``: the group
    ``"input_output"`` (parameters outside ``stacks``) at ``lr``, then one group per stack
    (named by its key) at ``lr * hidden_lr_multiplier(len(stack), optimizer)``: ``lr`` for
    SGD, ``lr / sqrt(L)`` for Adam.
    """
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_choice("parametrisation", parametrisation, PARAMETRISATIONS)
    if not lr > 0:
        raise ValueError(f"lr must be > 0; got lr={lr!r}.")
    if parametrisation == "standard":
        return [{"params": list(model.parameters()), "lr": lr}]
    groups, inside = [], set()
    for name, stack in stacks.items():
        params = list(stack.parameters())
        inside |= {id(p) for p in params}
        mult = hidden_lr_multiplier(len(stack), optimizer, parametrisation)
        groups.append({"params": params, "lr": lr * mult, "name": name})
    outer = [p for p in model.parameters() if id(p) not in inside]
    return [{"params": outer, "lr": lr, "name": "input_output"}, *groups]
