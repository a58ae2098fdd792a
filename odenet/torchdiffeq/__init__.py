"""A torchdiffeq 0.2.5 drop-in on odenet's engine: ``import odenet.torchdiffeq as torchdiffeq``.

:func:`odeint`, :func:`odeint_adjoint`, :func:`odeint_event` and :func:`odeint_dense` take
torchdiffeq's arguments and follow its semantics (fixed-step methods without
``step_size`` step on the output times, open-ended event search, ``grid_constructor``,
``perturb``, callbacks, the adjoint's augmented norms and zero gradients for unused
parameters, ...). Every method in :data:`odenet.solvers.METHODS` is available under its
name. The differences from :func:`odenet.odeint`, whose stricter checks stay as they are,
live in this package only.

Known differences from torchdiffeq 0.2.5: the adaptive step-size loop, initial step and
interpolants are odenet's (results agree to the requested tolerance, not bit for bit;
dopri8 ends steps on the output times, so its outputs are more accurate); a terminal
event is located to float64 resolution and ``odeint(..., event_fn=...)`` already carries
the implicit-function-theorem gradient that torchdiffeq attaches only in ``odeint_event``;
per-component (tuple) ``rtol``/``atol`` are refused; a ``y0`` holding NaN or inf is refused.
"""

from __future__ import annotations

from ._adjoint import odeint_adjoint
from ._dense import odeint_dense
from ._errors import TorchdiffeqInputError
from ._event import odeint_event
from ._odeint import odeint

__all__ = [
    "TorchdiffeqInputError",
    "odeint",
    "odeint_adjoint",
    "odeint_dense",
    "odeint_event",
]
