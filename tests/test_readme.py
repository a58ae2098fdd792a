"""The README's Quick start and .ci/run agree on the test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_quick_start_has_two_commands_and_ci_runs_the_test_command() -> None:
    """.ci/run runs the README's test command on the line after its marker comment (the
    docs build follows the tests)."""
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = _bash_blocks(quick)
    assert len(blocks) == 2, blocks
    test_command = blocks[1]
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    marker = next(i for i, line in enumerate(ci) if line.startswith("# --- the README's test"))
    assert ci[marker + 1].strip() == test_command
    assert "torch==2.13.0" in blocks[0]


def _section(text: str, heading: str) -> str:
    return text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]


def test_readme_solver_and_gradient_snippets_run() -> None:
    """The README's code for solving and differentiating runs as written, in order."""
    readme = (ROOT / "README.md").read_text()
    namespace: dict[str, object] = {}
    for heading in ("Solving an ODE", "Gradients with bounded memory"):
        for block in re.findall(r"```python\n(.*?)```", _section(readme, heading), flags=re.S):
            exec(compile(block, f"README.md: {heading}", "exec"), namespace)
    ys = namespace["ys"]
    assert ys.shape == (5, 16, 2)  # type: ignore[attr-defined]


def test_irregular_time_series_page_snippets_run() -> None:
    """The neural CDE / events snippets of the docs run; bounce times follow the closed form."""
    import math

    text = (ROOT / "docs" / "irregular.md").read_text()
    namespace: dict[str, object] = {}
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", text, flags=re.S)):
        exec(compile(block, f"docs/irregular.md[{i}]", "exec"), namespace)
    assert namespace["zs"].shape == (2, 8, 4)  # type: ignore[attr-defined]
    t1 = math.sqrt(2 / 9.81)
    expect = [t1, t1 + 2 * 0.8 * t1, t1 + 2 * 0.8 * t1 + 2 * 0.64 * t1]
    assert all(abs(a - b) < 1e-5 for a, b in zip(namespace["bounces"], expect, strict=True))  # type: ignore[arg-type]


def test_readme_stays_short_and_links_every_guide_page() -> None:
    """The README is an entry point: under 120 lines, linking each guide page that exists."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 120
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name not in {"index.md", "getting-started.md", "benchmarks.md"}:
            assert f"(docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"
