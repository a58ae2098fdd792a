"""Continuous-depth models: the ResNet family as Euler steps, ODE-Net, CNF, latent ODE."""

from __future__ import annotations

from odenet.models.cnf import CNF
from odenet.models.conv_resnet import ConvResNet
from odenet.models.latent_ode import LatentODE
from odenet.models.mlp_resnet import MLPResNet
from odenet.models.neural_cde import CDEVectorField, NeuralCDE
from odenet.models.odenet_classifier import ODENet
from odenet.models.odernn_classifier import ODERNNClassifier
from odenet.models.residual_block import ResidualBlock

__all__ = [
    "CNF",
    "CDEVectorField",
    "ConvResNet",
    "LatentODE",
    "MLPResNet",
    "NeuralCDE",
    "ODENet",
    "ODERNNClassifier",
    "ResidualBlock",
]
