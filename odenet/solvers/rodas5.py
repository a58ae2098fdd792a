"""Rodas5: Di Marzo's L-stable Rosenbrock method of order 5 with an embedded order-4 solution."""

from __future__ import annotations

from .rosenbrock import Rosenbrock
from .rosenbrock_tableau import RosenbrockTableau

__all__ = ["RODAS5_TABLEAU", "Rodas5"]

_G = 0.19

# alpha_ij (strictly lower triangular); rows 7 and 8 repeat rows 6 and 7 of beta, which
# makes the method stiffly accurate (y1 and the embedded solution are stage arguments).
_ALPHA = (
    (),
    (0.38,),
    (0.1899188971074152, 0.1979321027247381),
    (0.1110729281178426, 0.5456026683145674, -0.1727037026450261),
    (0.2329444418850307, 0.025099380960713898, 0.1443314046300300, 0.054672473406183418),
    (
        -0.036201017843430883, 4.208448872731939, -7.549674427720996,
        -0.2076823626400282, 4.585108935472517,
    ),
    (
        7.585261698003052, -15.57426208319938, -8.814406895608121,
        1.534698996826085, 16.07870828397837, _G,
    ),
    (
        0.4646018839086969, 0.0, -1.720907508837576, 0.2910480220957973,
        1.821778861539924, -0.046521258706842056, _G,
    ),
)  # fmt: skip

# beta_ij = alpha_ij + gamma_ij (lower triangular, gamma on the diagonal)
_BETA = (
    (_G,),
    (0.0076920774666285364, _G),
    (-0.058129718999580252, -0.063251113355141360, _G),
    (0.7075715596134048, -0.5980299539145789, 0.5294131505610923, _G),
    (
        -0.034975026573934865, -0.1928476085817357, 0.089839586125126941,
        0.027613185520411822, _G,
    ),
    _ALPHA[6],
    _ALPHA[7],
    (
        0.4646018839086969, 0.0, -1.720907508837576, 0.2910480220957973,
        1.821778861539924, -0.026744882930135193, -0.019776375776706864, _G,
    ),
)  # fmt: skip

RODAS5_TABLEAU = RosenbrockTableau.from_alpha_beta(
    alpha=_ALPHA,
    beta=_BETA,
    b=_BETA[7],
    b_hat=(*_BETA[6], 0.0),
)


class Rodas5(Rosenbrock):
    """Rodas5(4): 8 stages, order 5, embedded order 4, L-stable and stiffly accurate.

    One Jacobian, one LU factorisation and 8 evaluations of ``func`` per step (the
    Jacobian is reused when a rejected step is retried from the same state). Dense output
    is cubic Hermite (third order); the adaptive loop therefore ends steps on the requested
    output times, so outputs keep fifth-order accuracy.

    Reference: G. A. Di Marzo, "RODAS5(4) -- Méthodes de Rosenbrock d'ordre 5(4) adaptées
    aux problèmes différentiels-algébriques", Master's thesis, Université de Genève, 1993;
    E. Hairer & G. Wanner, *Solving ODEs II*, §IV.7 (the transformed formulation).
    """

    rosenbrock_tableau = RODAS5_TABLEAU
    order = 5
    error_order = 4
    name = "rodas5"
    reference = "Di Marzo, RODAS5(4), Université de Genève, 1993"
