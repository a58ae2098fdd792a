"""The package layout has no import cycles between odenet's parts.

A part is a subpackage (``odenet/solvers/``, ``odenet/models/``, ...) or a module at the
package root (``odenet/odeint.py``, ``odenet/errors.py``, ...). Every ``import`` statement
counts, including those inside functions (a lazy import still couples two parts).
"""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "odenet"


def _part_of(module: str) -> str | None:
    """``odenet.solvers.rk4`` -> ``solvers``; ``odenet.errors`` -> ``errors``."""
    parts = module.split(".")
    if parts[0] != "odenet" or len(parts) < 2:
        return None
    name = parts[1]
    if (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file():
        return name
    return None  # a name imported from odenet/__init__.py itself


def _module_name(path: Path) -> tuple[str, str]:
    """(module, package used to resolve relative imports) of a source file."""
    rel = path.relative_to(ROOT).with_suffix("").parts
    if rel[-1] == "__init__":
        mod = ".".join(rel[:-1])
        return mod, mod
    mod = ".".join(rel)
    return mod, mod.rsplit(".", 1)[0]


def _imported(node: ast.AST, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join([*base, node.module] if node.module else base)
        else:
            module = node.module or ""
        return [module] + [f"{module}.{a.name}" for a in node.names]
    return []


def import_graph() -> dict[str, dict[str, str]]:
    """``graph[a][b]`` = a file of part ``a`` that imports part ``b``."""
    graph: dict[str, dict[str, str]] = defaultdict(dict)
    for path in sorted(PACKAGE.rglob("*.py")):
        module, package = _module_name(path)
        src = _part_of(module)
        if src is None:  # odenet/__init__.py: the public surface imports everything
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in _imported(node, package):
                dst = _part_of(target)
                if dst is not None and dst != src:
                    graph[src].setdefault(dst, str(path.relative_to(ROOT)))
    return graph


def find_cycle(graph: dict[str, dict[str, str]]) -> list[str] | None:
    """One cycle ``[a, b, ..., a]`` of the directed graph, or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b": ""}, "b": {"c": ""}, "c": {"a": ""}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": ""}, "b": {"c": ""}}) is None


def test_no_import_cycles_between_parts() -> None:
    graph = import_graph()
    assert "solvers" in graph and "models" in graph  # the walk saw the package
    cycle = find_cycle(graph)
    if cycle:
        where = [f"{a} -> {b} ({graph[a][b]})" for a, b in itertools.pairwise(cycle)]
        pytest.fail("import cycle: " + "; ".join(where))


def test_models_and_limits_do_not_import_each_other() -> None:
    graph = import_graph()
    assert "limits" not in graph.get("models", {}), graph.get("models")


def test_old_import_paths_of_the_depth_mup_helpers_keep_working() -> None:
    from odenet._depth_scaling import hidden_lr_multiplier
    from odenet.limits import depth_mup
    from odenet.models import parametrisation

    assert depth_mup.hidden_lr_multiplier is hidden_lr_multiplier
    assert parametrisation.hidden_lr_multiplier is hidden_lr_multiplier
    assert depth_mup.PARAMETRISATIONS == ("standard", "depth_mup")


SUBPACKAGES = sorted(
    p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file() and p.name != "conf"
)


def test_every_subpackage_imports_in_a_fresh_interpreter() -> None:
    """All subpackages, ``train`` and ``data`` included (``odenet/__init__.py`` does not
    import them), import in one child interpreter in reverse order. (Importing
    ``odenet.<x>`` runs ``odenet/__init__.py`` first, so the static check above is what
    rules out cycles; this one catches a subpackage that fails on its own.)"""
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    names = [f"odenet.{name}" for name in SUBPACKAGES[::-1]]
    out = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]


#: what may sit at the package root besides the subpackages: the public surface, the
#: errors every part raises, the command-line plumbing both CLIs share, and the depth
#: scaling rules that models and limits share (kept below both to avoid a cycle)
ROOT_MODULES = {"__init__", "errors", "cli", "_depth_scaling"}


def test_the_package_root_is_a_map_of_the_parts() -> None:
    loose = {p.stem for p in PACKAGE.glob("*.py")} - ROOT_MODULES
    assert not loose, f"modules loose at the package root: {sorted(loose)}"
    for part in ("solving", "solvers", "gradients", "nn", "models", "convert", "train", "sde"):
        assert (PACKAGE / part / "__init__.py").is_file(), part


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("solvers", "solving"),  # the numerical core knows nothing of the front
        ("solvers", "gradients"),
        ("solving", "gradients"),  # strategies register themselves with the front
        ("solving", "nn"),
        ("gradients", "nn"),
        ("convert", "train"),
    ],
)
def test_data_flows_one_way(lower: str, upper: str) -> None:
    graph = import_graph()
    assert upper not in graph.get(lower, {}), f"{lower} imports {upper}: {graph[lower][upper]}"


def test_odenet_itself_does_not_import_the_old_module_paths() -> None:
    """The aliases of ``odenet/__init__.py`` are for users; inside the package an import
    through one would hide a dependency from the part graph above."""
    import odenet

    old = {f"odenet.{name}" for name in odenet._MOVED}
    for path in sorted(PACKAGE.rglob("*.py")):
        _, package = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            hits = old.intersection(_imported(node, package))
            assert not hits, f"{path.relative_to(ROOT)} imports {sorted(hits)}"


def test_old_root_module_paths_name_the_moved_modules() -> None:
    code = (
        "import odenet, odenet.odeint, odenet.solution, odenet.progress\n"
        "from odenet.odeint import odeint, solve\n"
        "from odenet.odeint_adjoint import odeint_adjoint\n"
        "from odenet.solution import Solution\n"
        "from odenet.events import Event\n"
        "from odenet.cdeint import cdeint\n"
        "import odenet.solving.solution as new\n"
        "assert Solution is new.Solution is odenet.Solution\n"
        "assert odeint is odenet.odeint and callable(odenet.odeint)\n"
        "assert odeint_adjoint is odenet.odeint_adjoint and cdeint is odenet.cdeint\n"
        "assert Event is odenet.Event and solve is odenet.solve\n"
        "assert odenet.solution.Solution is Solution and odenet.events.Event is Event\n"
        "from odenet.gradients.base import GradientStrategy, find_params\n"
        "assert GradientStrategy is odenet.solving.GradientStrategy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
