"""LatentODE: shapes, KL closed form, masking, gradients, and that training raises the ELBO."""

from __future__ import annotations

import pytest
import torch

from odenet.models.latent_ode import LatentODE, gaussian_kl


def toy_batch(batch: int = 8, steps: int = 10) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Irregularly sampled noisy sines: shared sorted times, per-sample masks."""
    g = torch.Generator().manual_seed(0)
    ts = torch.sort(torch.rand(steps, generator=g) * 3).values
    phase = torch.rand(batch, 1, 1, generator=g) * 3
    xs = torch.sin(ts[None, :, None] + phase)
    mask = (torch.rand(batch, steps, 1, generator=g) < 0.7).float()
    return ts, xs, mask


@pytest.mark.parametrize("encoder", ["odernn", "gru"])
def test_shapes_and_gradients(encoder: str) -> None:
    torch.manual_seed(0)
    model = LatentODE(1, latent_dim=3, hidden=8, rec_hidden=8, encoder=encoder, step_size=0.25)
    ts, xs, mask = toy_batch()
    out = model.elbo(ts, xs, mask)
    assert set(out) == {"elbo", "log_likelihood", "kl"} and out["elbo"].ndim == 0
    (-out["elbo"]).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    pred = model(ts, xs, mask, ts_pred=torch.linspace(float(ts[0]), 5.0, 7))
    assert pred.shape == (8, 7, 1)


def test_kl_matches_torch_distributions() -> None:
    torch.manual_seed(0)
    mu, logvar = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    assert torch.allclose(gaussian_kl(mu, logvar), expected, atol=1e-12)


def test_masked_entries_do_not_matter() -> None:
    model = LatentODE(1, latent_dim=2, hidden=8, rec_hidden=8, step_size=0.25)
    ts, xs, mask = toy_batch()
    changed = torch.where(mask > 0, xs, torch.full_like(xs, 123.0))
    torch.manual_seed(1)
    a = model.elbo(ts, xs, mask)["elbo"]
    torch.manual_seed(1)
    b = model.elbo(ts, changed, mask)["elbo"]
    assert torch.allclose(a, b, atol=1e-5)
    torch.manual_seed(1)
    c = model.elbo(ts, changed)["elbo"]  # without the mask the garbage is seen
    assert (a - c).abs() > 1.0


def test_training_increases_elbo() -> None:
    torch.manual_seed(0)
    model = LatentODE(1, latent_dim=2, hidden=16, rec_hidden=16, encoder="gru", step_size=0.25)
    ts, xs, mask = toy_batch(16, 12)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)

    def evaluate() -> float:
        torch.manual_seed(5)
        with torch.no_grad():
            return sum(model.elbo(ts, xs, mask)["elbo"].item() for _ in range(4)) / 4

    before = evaluate()
    for _ in range(10):
        loss = -model.elbo(ts, xs, mask)["elbo"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert evaluate() > before + 10.0


def test_bad_inputs_name_argument() -> None:
    model = LatentODE(2)
    ts = torch.tensor([0.0, 0.5, 0.4])
    with pytest.raises(ValueError, match="ts must be strictly increasing"):
        model.elbo(ts, torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match="xs must have shape"):
        model.elbo(torch.tensor([0.0, 1.0]), torch.zeros(1, 3, 2))
