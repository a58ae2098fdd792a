"""Neural controlled differential equations for irregular, partly missing time series.

Kidger, Morrill, Foster & Lyons, "Neural controlled differential equations for irregular
time series", NeurIPS 2020. The observations ``x (batch, time, channels)`` (NaN where
missing; by default channel 0 holds the observation times, which makes the path
one-to-one and lets the model see the sampling) become a continuous path ``X`` by
interpolation; a hidden state follows

    z(t_0) = initial(X(t_0)),    dz = f_θ(z) dX(t),    logits = readout(z(t_N)),

solved with :func:`odenet.cdeint` (any odenet method and gradient strategy).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch
from torch import Tensor, nn

from odenet.interpolate import (
    HermiteCubic,
    LinearInterpolation,
    NaturalCubicSpline,
    PiecewiseCubic,
    RectilinearInterpolation,
)
from odenet.nn._checks import check_choice, check_positive_int
from odenet.nn.ode_block import CountingField, NFECounter
from odenet.solving.cdeint import cdeint

__all__ = ["CDEVectorField", "NeuralCDE"]

INTERPOLATIONS: dict[str, type[PiecewiseCubic]] = {
    "cubic": NaturalCubicSpline,
    "hermite": HermiteCubic,
    "linear": LinearInterpolation,
    "rectilinear": RectilinearInterpolation,
}


class CDEVectorField(nn.Module):
    """``f_θ(z) -> (batch, hidden, channels)``: an MLP with a final ``tanh`` (which keeps
    the field bounded, as Kidger et al. recommend).

    Args:
        hidden: state size; channels: path channels; width, layers: the MLP's hidden width
            and number of hidden layers.
    """

    def __init__(self, hidden: int, channels: int, width: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.hidden, self.channels = hidden, channels
        dims = [hidden] + [width] * layers
        body: list[nn.Module] = []
        for a, b in pairwise(dims):
            body += [nn.Linear(a, b), nn.Softplus()]
        self.net = nn.Sequential(*body, nn.Linear(dims[-1], hidden * channels), nn.Tanh())

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], self.hidden, self.channels)


class NeuralCDE(nn.Module):
    """Neural CDE classifier / regressor: initial network, vector field, linear readout.

    Args:
        input_channels: channels of ``x`` (time included when ``time_channel``).
        num_classes: outputs of the readout (logits).
        hidden: size of the state ``z``.
        field_width, field_layers: the vector field's MLP.
        interpolation: ``"cubic"`` (natural cubic spline), ``"hermite"`` (backward
            Hermite), ``"linear"`` or ``"rectilinear"``.
        time_channel: channel 0 of ``x`` holds the observation times (never NaN); else
            the times are ``0, 1, ..., T - 1`` unless passed to :meth:`forward`.
        method, rtol, atol, step_size, gradient: passed to :func:`odenet.cdeint`.

    Shapes: ``x (batch, time, input_channels)`` -> ``(batch, num_classes)``.

    After a call, ``nfe_forward`` holds the vector field's evaluations in the solve and
    ``nfe_backward`` those of the backward pass that followed (as for ``ODEBlock``; the
    training loop logs them).
    """

    def __init__(
        self,
        input_channels: int,
        num_classes: int,
        hidden: int = 16,
        field_width: int = 64,
        field_layers: int = 2,
        interpolation: str = "cubic",
        time_channel: bool = True,
        method: Any = "rk4",
        rtol: float = 1e-3,
        atol: float = 1e-4,
        step_size: float | None = 0.25,
        gradient: Any = None,
    ) -> None:
        super().__init__()
        channels = check_positive_int("input_channels", input_channels)
        self.interpolation = check_choice("interpolation", interpolation, tuple(INTERPOLATIONS))
        self.time_channel = bool(time_channel)
        path_channels = channels + (1 if interpolation == "rectilinear" else 0)
        self.initial = nn.Linear(path_channels, check_positive_int("hidden", hidden))
        self.field = CDEVectorField(hidden, path_channels, field_width, field_layers)
        self.readout = nn.Linear(hidden, check_positive_int("num_classes", num_classes))
        self.solver = {"method": method, "rtol": rtol, "atol": atol, "gradient": gradient}
        self.solver["step_size"] = step_size
        self._counter = NFECounter()

    @property
    def nfe_forward(self) -> int:
        return self._counter.forward

    @property
    def nfe_backward(self) -> int:
        return self._counter.backward

    def path(self, x: Tensor, times: Tensor | None = None) -> PiecewiseCubic:
        """The interpolated control path of ``x`` (times: ``(T,)``, ``(batch, T)``, or
        channel 0 / ``0..T-1`` when ``None``)."""
        if times is None and self.time_channel:
            times = x[..., 0]
            if bool(torch.isnan(times).any()):
                raise ValueError("x[..., 0] holds the observation times and must not be NaN")
            if bool((times == times[:1]).all()):
                times = times[0]  # one grid for the batch: cheaper evaluation
        return INTERPOLATIONS[self.interpolation](x, times)

    def forward(self, x: Tensor, times: Tensor | None = None) -> Tensor:
        X = self.path(x, times)
        span = X.interval
        start = X.knots[..., 0]  # each sample starts at its own first knot
        z0 = self.initial(X.evaluate(start if start.dim() else start.expand(x.shape[0])))
        opts = dict(self.solver)
        if not _fixed(opts["method"]):
            opts.pop("step_size")  # adaptive: rtol/atol control the steps
        self._counter.reset()
        try:
            z = cdeint(X, CountingField(self.field, self._counter), z0, span, **opts)[-1]
        finally:
            self._counter.solving = False
        return self.readout(z)


def _fixed(method: Any) -> bool:
    from odenet.solvers import get_method
    from odenet.solving.strategy import method_name

    if method_name(method) == "reversible_heun":
        return True
    return not get_method(method).adaptive
