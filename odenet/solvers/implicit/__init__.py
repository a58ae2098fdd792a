"""Machinery of implicit methods: batched Jacobians, LU factorisations, Newton iterations."""

from __future__ import annotations

from .jacobian import LUFactor, batched_jacobian, block_view, newton_matrix

__all__ = ["LUFactor", "batched_jacobian", "block_view", "newton_matrix"]
