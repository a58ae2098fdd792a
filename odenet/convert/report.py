"""``report(model, data)``: how ODE-like is a ResNet?

Per stage, the smoothness of the parameters along depth (``odenet.convert.smoothness``);
for the whole model, loss and accuracy when the converted ODE is solved with other schemes
(``odenet.convert.schemes``: Euler with L and 2L steps, Heun, rk4, dopri5). Rows show the
actual steps per stage; a scheme that takes the same steps with the same method as an
earlier one (e.g. ``rk4 L/8`` and ``rk4 L/4`` when L < 8: one step each) is skipped and
listed in ``skipped``. Returns a
``ConversionReport``; optionally writes ``report.json`` and PNG plots and prints a table.
References: Sander et al. 2022 (NeurIPS), Marion et al. 2024 (ICLR).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from torch import nn

from odenet.convert.field import InterpolatedResidualField
from odenet.convert.resnet_to_ode import check_eval_mode, ode_blocks, resnet_to_ode
from odenet.convert.schemes import (
    DEFAULT_SCHEMES,
    Batch,
    Scheme,
    SchemeResult,
    check_data,
    evaluate,
    run_scheme,
    stage_steps,
)
from odenet.convert.smoothness import StageSmoothness, stage_smoothness


def _fmt(v: float | None, spec: str = ".4f") -> str:
    return "-" if v is None else format(v, spec)


@dataclass
class ConversionReport:
    """Result of ``report``.

    Attributes:
        interpolation: interpolation of the converted fields.
        original: the model as given (its ``nfe`` is the number of converted blocks).
        stages: smoothness of every converted stage.
        schemes: one result per distinct scheme.
        skipped: schemes not run because they repeat an earlier one (same method, actual
            steps and tolerances), each as ``"label = earlier label"``.
    """

    interpolation: str
    original: SchemeResult
    stages: list[StageSmoothness]
    schemes: list[SchemeResult]
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    def table(self) -> str:
        """Two plain-text tables: stages (smoothness) and schemes (nfe, accuracy, loss)."""
        lines = [f"{'stage':<24}{'rule':<18}{'L':>4}{'max dθ/θ':>11}{'mean dθ/θ':>11}"]
        for s in self.stages:
            lines.append(
                f"{s.name:<24}{s.rule:<18}{s.num_blocks:>4}"
                f"{_fmt(s.max_relative_change):>11}{_fmt(s.mean_relative_change):>11}"
            )
        lines.append("")
        lines.append(f"{'scheme':<14}{'steps':>10}{'nfe':>8}{'accuracy':>10}{'loss':>10}")
        for r in [self.original, *self.schemes]:
            lines.append(
                f"{r.label:<14}{_steps(r):>10}{r.nfe:>8.1f}{_fmt(r.accuracy):>10}{_fmt(r.loss):>10}"
            )
        if self.skipped:
            lines.append("skipped (same steps as an earlier scheme): " + "; ".join(self.skipped))
        return "\n".join(lines)


def _steps(r: SchemeResult) -> str:
    """Actual steps per stage, comma-separated; ``"adaptive"`` when there are none."""
    return "adaptive" if r.steps is None else ",".join(str(n) for n in r.steps)


def distinct_schemes(model: nn.Module, schemes: Sequence[Scheme]) -> tuple[list[Scheme], list[str]]:
    """The schemes of ``schemes`` that differ in method, actual steps per stage of the
    converted ``model`` or tolerances from every earlier one, and ``"label = earlier
    label"`` for each one dropped."""
    kept: list[Scheme] = []
    skipped: list[str] = []
    seen: dict[tuple, str] = {}
    for s in schemes:
        steps = stage_steps(model, s)
        key = (s.method, None if steps is None else tuple(steps))
        if steps is None:
            key += (s.rtol, s.atol)
        if key in seen:
            skipped.append(f"{s.label} = {seen[key]}")
            continue
        seen[key] = s.label
        kept.append(s)
    return kept, skipped


def _converted(model: nn.Module, interpolation: str) -> nn.Module:
    if ode_blocks(model):
        return model
    return resnet_to_ode(model, interpolation=interpolation)


def report(
    model: nn.Module,
    data: Batch | Iterable[Batch],
    *,
    interpolation: str = "linear",
    schemes: Sequence[Scheme] = DEFAULT_SCHEMES,
    out_dir: str | Path | None = None,
    show: bool = True,
    batch_size: int = 512,
) -> ConversionReport:
    """Smoothness along depth and accuracy under other schemes of a ResNet (or of a model
    already converted by ``resnet_to_ode``).

    Args:
        model: a ResNet in eval mode (converted with ``interpolation``), or a converted one.
        data: ``(x, y)`` tensors (integer ``y``: classification, cross-entropy and
            accuracy; float ``y``: MSE) or an iterable of such batches (iterated once per
            scheme, so not a one-shot generator).
        interpolation: ``"constant"``, ``"linear"`` (default) or ``"cubic"``.
        schemes: the schemes to compare (``odenet.convert.schemes.Scheme``); one that
            repeats an earlier scheme's method and actual steps is skipped (``skipped``).
        out_dir: if given, write ``report.json``, ``depth.png`` and ``schemes.png`` there
            (plots need matplotlib; without it a message is printed and plots are skipped).
        show: print the tables.
        batch_size: batch size when ``data`` is a pair of tensors.
    """
    check_eval_mode(model, "report")
    check_data(data)
    converted = _converted(model, interpolation)
    blocks = ode_blocks(converted)
    stages = [
        stage_smoothness(name, b.field)
        for name, b in blocks
        if isinstance(b.field, InterpolatedResidualField)
    ]
    loss, acc, _ = evaluate(model, data, batch_size)
    total_blocks = float(sum(b.field.num_blocks for _, b in blocks))
    depths = [b.field.num_blocks for _, b in blocks]
    original = SchemeResult("original", "resnet", total_blocks, loss, acc, depths)
    kept, skipped = distinct_schemes(converted, schemes)
    results = [run_scheme(converted, s, data, batch_size) for s in kept]
    rep = ConversionReport(converted_interpolation(converted), original, stages, results, skipped)
    if show:
        print(rep.table())
    if out_dir is not None:
        out = Path(out_dir)
        rep.to_json(out / "report.json")
        from odenet.convert.report_plots import save_plots

        save_plots(rep, out)
    return rep


def converted_interpolation(model: nn.Module) -> str:
    """The interpolation of the converted fields (``"mixed"`` if they differ)."""
    kinds = {b.field.interpolation for _, b in ode_blocks(model)}
    return kinds.pop() if len(kinds) == 1 else "mixed"
