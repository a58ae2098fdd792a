"""The same exception types as torchdiffeq on the same bad input."""

from __future__ import annotations

import warnings

import pytest
import torch
import torchdiffeq

import odenet.torchdiffeq as tdq


def _f(t, y):
    return -y


Y0 = torch.ones(2)
T = torch.tensor([0.0, 1.0])


def _event(lib, t, method="dopri5"):
    return lib.odeint(_f, Y0, t, method=method, event_fn=lambda tt, y: y[0] - 0.5)


def _both_grids(lib):
    opts = {"step_size": 0.1, "grid_constructor": lambda f, y, t: t}
    return lib.odeint(_f, Y0, T, method="euler", options=opts)


def _adjoint_methods_differ(lib):
    f = torch.nn.Linear(2, 2)
    opts = {"first_step": 0.1}
    return lib.odeint_adjoint(f, Y0, T, method="dopri5", adjoint_method="rk4", options=opts)


def _rtol_grad(lib):
    return lib.odeint(_f, Y0, T, rtol=torch.tensor(1e-3, requires_grad=True))


CASES = [
    ("invalid method", lambda lib: lib.odeint(_f, Y0, T, method="nope")),
    ("2-D t", lambda lib: lib.odeint(_f, Y0, T.reshape(1, 2))),
    ("integer t", lambda lib: lib.odeint(_f, Y0, torch.tensor([0, 1]))),
    ("non-monotonic t", lambda lib: lib.odeint(_f, Y0, torch.tensor([0.0, 1.0, 0.5]))),
    ("list y0", lambda lib: lib.odeint(_f, [Y0], T)),
    ("event with 3 times", lambda lib: _event(lib, torch.tensor([0.0, 1, 2]))),
    ("fixed event without step_size", lambda lib: _event(lib, T, method="rk4")),
    ("step_size and grid_constructor", _both_grids),
    ("adjoint of a plain function", lambda lib: lib.odeint_adjoint(_f, Y0, T)),
    ("adjoint_method differs with options only", _adjoint_methods_differ),
    ("rtol requiring grad", _rtol_grad),
]


def _raised(call, lib) -> type[BaseException]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call(lib)
        except Exception as exc:  # the type is what is compared
            return type(exc)
    raise AssertionError("no exception")


@pytest.mark.parametrize(("name", "call"), CASES, ids=[c[0] for c in CASES])
def test_same_exception_type(name: str, call) -> None:
    ref = _raised(call, torchdiffeq)
    ours = _raised(call, tdq)
    assert issubclass(ours, ref), (
        f"{name}: torchdiffeq raises {ref.__name__}, we raise {ours.__name__}"
    )


def test_unknown_option_warns_like_torchdiffeq() -> None:
    with pytest.warns(UserWarning, match="Unexpected arguments"):
        torchdiffeq.odeint(_f, Y0, T, options={"bogus": 1})
    with pytest.warns(UserWarning, match="Unexpected arguments"):
        out = tdq.odeint(_f, Y0, T, options={"bogus": 1})
    torch.testing.assert_close(out[-1], torch.exp(torch.tensor(-1.0)).expand(2))


def test_odenet_odeint_stays_strict() -> None:
    """The compatibility rules do not leak into odenet.odeint."""
    import odenet

    with pytest.raises(ValueError, match="unknown option"):
        odenet.odeint(_f, Y0, T, options={"bogus": 1})
    with pytest.raises(ValueError, match="needs step_size"):
        odenet.odeint(_f, Y0, T, method="rk4")
