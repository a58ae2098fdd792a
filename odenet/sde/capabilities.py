"""What each torchsde solver supports, checked before torchsde is called.

torchsde (Li et al. 2020, "Scalable gradients for stochastic differential equations";
Kidger et al. 2021, "Efficient and accurate gradients for neural SDEs") selects a solver by
name and only fails inside the solver's constructor. This module states the same
capabilities as data so that :class:`odenet.sde.SDEBlock` can reject an unsupported
combination at construction, with a message naming the argument and the fix.

Table (torchsde 0.2.6, ``torchsde/_core/methods``):

==================  ==================  ============================  ===============
method              sde_type            noise types                   Levy area needed
==================  ==================  ============================  ===============
euler               ito                 all                           none
milstein            ito, stratonovich   diagonal, scalar, additive    none
srk                 ito                 diagonal, scalar, additive    space-time
midpoint            stratonovich        all                           none
heun                stratonovich        all                           none
euler_heun          stratonovich        all                           none
log_ode             stratonovich        all                           davie
reversible_heun     stratonovich        all                           none
==================  ==================  ============================  ===============

Strong orders: Euler-Maruyama 0.5 (1.0 for additive noise), Milstein 1.0, SRK 1.5
(Rossler 2010), midpoint/Heun 1.0 except general noise 0.5, reversible Heun 0.5 (1.0 for
additive noise; Kidger et al. 2021).
"""

from __future__ import annotations

from dataclasses import dataclass

SDE_TYPES: tuple[str, ...] = ("ito", "stratonovich")
NOISE_TYPES: tuple[str, ...] = ("diagonal", "scalar", "additive", "general")


@dataclass(frozen=True)
class SDEMethodInfo:
    """Capabilities of one torchsde solver.

    Attributes:
        name: torchsde method name.
        sde_types: calculi the solver integrates.
        noise_types: noise structures the solver accepts.
        levy_area: Levy-area approximation the Brownian motion must provide.
        default_adjoint: method torchsde uses for the backward (adjoint) SDE, or None when
            torchsde picks it from the noise type.
    """

    name: str
    sde_types: tuple[str, ...]
    noise_types: tuple[str, ...]
    levy_area: str = "none"
    default_adjoint: str | None = None


_ALL_NOISE = NOISE_TYPES
_NO_GENERAL = ("diagonal", "scalar", "additive")

SDE_METHODS: dict[str, SDEMethodInfo] = {
    m.name: m
    for m in (
        SDEMethodInfo("euler", ("ito",), _ALL_NOISE),
        SDEMethodInfo("milstein", SDE_TYPES, _NO_GENERAL),
        SDEMethodInfo("srk", ("ito",), _NO_GENERAL, levy_area="space-time"),
        SDEMethodInfo("midpoint", ("stratonovich",), _ALL_NOISE),
        SDEMethodInfo("heun", ("stratonovich",), _ALL_NOISE),
        SDEMethodInfo("euler_heun", ("stratonovich",), _ALL_NOISE),
        SDEMethodInfo("log_ode", ("stratonovich",), _ALL_NOISE, levy_area="davie"),
        SDEMethodInfo(
            "reversible_heun",
            ("stratonovich",),
            _ALL_NOISE,
            default_adjoint="adjoint_reversible_heun",
        ),
    )
}


def check_sde_type(sde_type: str) -> str:
    """Return ``sde_type`` if it is ``"ito"`` or ``"stratonovich"``; raise ValueError otherwise."""
    if sde_type not in SDE_TYPES:
        raise ValueError(f"sde_type must be one of {SDE_TYPES}; got sde_type={sde_type!r}.")
    return sde_type


def check_noise_type(noise_type: str) -> str:
    """Return ``noise_type`` if torchsde knows it; raise ValueError otherwise."""
    if noise_type not in NOISE_TYPES:
        raise ValueError(f"noise_type must be one of {NOISE_TYPES}; got noise_type={noise_type!r}.")
    return noise_type


def default_method(sde_type: str, noise_type: str) -> str:
    """The solver used when ``method=None``: SRK for Ito non-general noise, Euler for Ito
    general noise, midpoint for Stratonovich (torchsde's own defaults)."""
    if sde_type == "stratonovich":
        return "midpoint"
    return "euler" if noise_type == "general" else "srk"


def check_method(method: str | None, sde_type: str, noise_type: str) -> SDEMethodInfo:
    """Validate a (method, sde_type, noise_type) combination and return the method's info.

    Raises:
        ValueError: unknown method, or a method that does not integrate ``sde_type`` or
            does not accept ``noise_type``; the message names the methods that would.
    """
    check_sde_type(sde_type)
    check_noise_type(noise_type)
    name = default_method(sde_type, noise_type) if method is None else method
    if name not in SDE_METHODS:
        raise ValueError(
            f"method must be one of {sorted(SDE_METHODS)} or None; got method={name!r}."
        )
    info = SDE_METHODS[name]
    if sde_type not in info.sde_types:
        fits = [m for m, i in SDE_METHODS.items() if sde_type in i.sde_types]
        raise ValueError(
            f"method={name!r} integrates {info.sde_types} SDEs only; got sde_type={sde_type!r}. "
            f"Use one of {fits} for sde_type={sde_type!r}, or change sde_type."
        )
    if noise_type not in info.noise_types:
        fits = [
            m
            for m, i in SDE_METHODS.items()
            if sde_type in i.sde_types and noise_type in i.noise_types
        ]
        raise ValueError(
            f"method={name!r} supports noise_type in {info.noise_types}; got "
            f"noise_type={noise_type!r}. Use one of {fits} for {sde_type} SDEs with "
            f"{noise_type} noise."
        )
    return info
