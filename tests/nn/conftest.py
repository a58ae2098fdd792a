"""One intra-op thread: these tests use tiny tensors, for which thread hand-offs on a shared
2-core machine cost far more than they save (measured: ~30x on the latent-ODE test)."""

from __future__ import annotations

import torch

torch.set_num_threads(1)
