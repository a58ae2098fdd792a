"""ODE-RNN classifier for irregularly sampled series with missing values: the baseline of
the neural CDE experiment.

Rubanova, Chen & Duvenaud, "Latent ODEs for irregularly-sampled time series", NeurIPS 2019:
the ODE-RNN (the recognition network of :class:`odenet.models.LatentODE`) evolves its
hidden state by an ODE between observations and applies a GRU update at each one (values
with a missingness mask). Here it reads the series and a linear head gives logits.

Input as for :class:`~odenet.models.NeuralCDE`: ``x (batch, time, channels)`` with channel
0 the observation times (shared by the batch) and NaN for missing values.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from odenet.models.latent_ode import RecognitionRNN
from odenet.nn._checks import check_positive_int

__all__ = ["ODERNNClassifier"]


class ODERNNClassifier(nn.Module):
    """ODE-RNN encoder (``encoder="odernn"``) or GRU with time gaps (``"gru"``), then a head.

    Args:
        input_channels: channels of ``x`` including the time channel 0.
        num_classes: logits.
        hidden: GRU / ODE state size.
        encoder: ``"odernn"`` or ``"gru"``.
        method, rtol, atol, step_size, gradient: the ODE between observations.
    """

    def __init__(
        self,
        input_channels: int,
        num_classes: int,
        hidden: int = 32,
        encoder: str = "odernn",
        method: Any = "rk4",
        rtol: float = 1e-3,
        atol: float = 1e-4,
        step_size: float | None = 0.25,
        gradient: Any = None,
    ) -> None:
        super().__init__()
        obs = check_positive_int("input_channels", input_channels) - 1
        if obs < 1:
            raise ValueError(
                f"input_channels counts the time channel too and must be >= 2; got {input_channels}"
            )
        ode = {"method": method, "rtol": rtol, "atol": atol, "step_size": step_size}
        ode["gradient"] = gradient
        self.encoder = RecognitionRNN(obs, hidden, hidden, encoder, ode)
        self.head = nn.Sequential(nn.Tanh(), nn.Linear(2 * hidden, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        times = x[..., 0]
        if not bool((times == times[:1]).all()):
            raise ValueError(
                "ODERNNClassifier needs one time grid for the batch (x[i, :, 0] equal for all "
                "i); mark per-sample sampling with NaN values instead"
            )
        values = x[..., 1:]
        mask = (~torch.isnan(values)).to(values.dtype)
        return self.head(self.encoder(times[0], torch.nan_to_num(values), mask))
