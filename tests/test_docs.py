"""The docs site covers the public API: every name of ``odenet.__all__`` and of each
subpackage's ``__all__`` is in the generated reference, and every page is in the nav."""

from __future__ import annotations

import importlib
import importlib.util
import types
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import odenet

ROOT = Path(__file__).resolve().parents[1]


def _hook() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(
        "api_reference", ROOT / "docs" / "hooks" / "api_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOK = _hook()
PAGES = HOOK.pages()


def _nav_files(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [f for item in nav for f in _nav_files(item)]
    if isinstance(nav, dict):
        return [f for value in nav.values() for f in _nav_files(value)]
    return []


@pytest.fixture(scope="module")
def mkdocs_site() -> tuple[Any, Any, Any]:
    """``(config, files, navigation)`` as ``mkdocs build`` makes them: ``mkdocs.yml`` after
    the plugins' and hooks' ``on_config`` (which fills in the API section of the nav), the
    files after their ``on_files`` (which adds the generated pages), and the nav built
    from both."""
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install '.[docs]')")
    from mkdocs.config import load_config
    from mkdocs.structure.files import get_files
    from mkdocs.structure.nav import get_navigation

    config = load_config(str(ROOT / "mkdocs.yml"))
    config = config.plugins.on_config(config)
    files = config.plugins.on_files(get_files(config), config=config)
    return config, files, get_navigation(files, config)


def test_every_subpackage_with_all_has_a_page() -> None:
    for name in ("solvers", "gradients", "nn", "models", "convert", "data", "sde", "limits"):
        assert f"api/{name}.md" in PAGES


@pytest.mark.parametrize("sub", HOOK.subpackages())
def test_every_name_of_a_subpackage_is_rendered(sub: str) -> None:
    module = importlib.import_module(f"odenet.{sub}")
    page = PAGES[f"api/{sub}.md"]
    for name in module.__all__:
        if isinstance(getattr(module, name), types.ModuleType):
            assert f"## `{name}`" in page, name
        else:
            assert f"::: odenet.{sub}.{name}\n" in page, name


def test_every_top_level_name_is_covered() -> None:
    index = PAGES["api/index.md"]
    for name in odenet.__all__:
        assert f"| `odenet.{name}` |" in index, name
        obj = getattr(odenet, name)
        if isinstance(obj, types.ModuleType):
            continue
        # either rendered on this page or linked to the entry of a rendered subpackage name
        rendered = f"::: odenet.{name}\n" in index
        linked = any(
            f"[odenet.{sub}.{name}]" in index and f"::: odenet.{sub}.{name}\n" in page
            for sub in HOOK.subpackages()
            for page in [PAGES[f"api/{sub}.md"]]
        )
        assert rendered or linked, name


def test_new_method_classes_are_in_the_reference() -> None:
    solvers = PAGES["api/solvers.md"]
    for name in ("ExplicitAdams", "ImplicitAdams", "ScipySolver", "Method", "LoopMethod"):
        assert f"::: odenet.solvers.{name}\n" in solvers


def test_every_page_is_in_the_nav_and_exists(mkdocs_site: tuple[Any, Any, Any]) -> None:
    config, files, navigation = mkdocs_site
    nav = _nav_files(config["nav"])
    written = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").glob("*.md"))
    for page in [*written, *PAGES]:
        assert page in nav, f"{page} is missing from the nav (mkdocs.yml or the docs hook)"
    for page in nav:
        assert page in PAGES or (ROOT / "docs" / page).is_file(), page
    # the navigation mkdocs renders holds exactly the pages it builds
    in_nav = sorted(page.file.src_uri for page in navigation.pages)
    built = sorted(f.src_uri for f in files.documentation_pages())
    assert in_nav == built


def test_the_api_section_of_the_nav_is_generated() -> None:
    """mkdocs.yml names only the index page; the hook lists every subpackage's page, so
    a new subpackage needs no edit of mkdocs.yml."""
    raw = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    assert {HOOK.NAV_SECTION: "api/index.md"} in raw
    expanded = HOOK.expand_nav(raw)
    (section,) = [item[HOOK.NAV_SECTION] for item in expanded if HOOK.NAV_SECTION in item]
    assert _nav_files(section) == ["api/index.md", *(f"api/{s}.md" for s in HOOK.subpackages())]
    assert sorted(_nav_files(section)) == sorted(PAGES)
    # the rest of the nav is left as written
    assert [i for i in expanded if HOOK.NAV_SECTION not in i] == [
        i for i in raw if HOOK.NAV_SECTION not in i
    ]
    assert HOOK.expand_nav(None) is None  # no nav: mkdocs lists every page itself
    with pytest.raises(ValueError, match="API reference"):
        HOOK.expand_nav([{"Home": "index.md"}])


def test_ci_builds_the_docs_after_the_tests() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    tests = ci.index("python -m pytest -q")
    build = next(i for i, line in enumerate(ci) if "mkdocs build --strict" in line)
    assert build > tests
    assert '".[dev,docs]"' in "\n".join(ci[:tests])


def test_readme_links_the_docs_and_names_the_build_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "(docs/index.md)" in readme and "mkdocs build --strict" in readme


def test_config_group_table_lists_every_config_file() -> None:
    table = HOOK.conf_groups_table()
    for path in sorted((ROOT / "conf").rglob("*.yaml")):
        rel = path.relative_to(ROOT / "conf")
        if len(rel.parts) > 1:
            assert f"| `{'/'.join(rel.parts[:-1])}` | `{path.stem}` |" in table, rel
    assert HOOK.CONF_PLACEHOLDER in (ROOT / "docs" / "experiments.md").read_text()


def _python_blocks(page: str) -> list[str]:
    import re

    text = (ROOT / "docs" / page).read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_guide_snippets_run_in_order() -> None:
    """The self-contained pages' code runs as written (one namespace, page order)."""
    namespace: dict[str, object] = {}
    pages = [
        "getting-started.md",
        "solving.md",
        "choosing-a-solver.md",
        "gradients.md",
        "layers-and-models.md",
        "gpu.md",
    ]
    for page in pages:
        for i, block in enumerate(_python_blocks(page)):
            exec(compile(block, f"docs/{page}[{i}]", "exec"), namespace)
    assert namespace["ys"].shape == (5, 16, 2)  # type: ignore[attr-defined]


def test_loading_a_trained_model_as_documented(tmp_path: Path) -> None:
    """The experiments page's recipe rebuilds the model of a real (tiny) run."""
    from odenet.train import train
    from tests.train.train_helpers import TINY_MLP, compose_cfg

    run_dir = tmp_path / "run"
    train(compose_cfg([*TINY_MLP, "trainer.epochs=1"], run_dir))
    (block,) = [b for b in _python_blocks("experiments.md") if "load_run" in b]
    namespace: dict[str, object] = {}
    code = block.replace("outputs/digits/2026-01-01_12-00-00", str(run_dir))
    code = code.replace('map_location="cuda"', 'map_location="cpu"')  # no GPU in the tests
    exec(compile(code, "docs/experiments.md", "exec"), namespace)
    model = namespace["model"]
    assert not model.training  # type: ignore[attr-defined]
    saved = torch.load(run_dir / "last.ckpt", map_location="cpu", weights_only=True)["model"]
    for key, value in model.state_dict().items():  # type: ignore[attr-defined]
        assert torch.equal(value, saved[key]), key


def test_sphinx_roles_become_code_spans() -> None:
    rewrite = HOOK.rewrite_roles
    assert rewrite("see :class:`~odenet.solvers.Dopri5` and :func:`odenet.odeint`") == (
        "see `Dopri5` and `odenet.odeint`"
    )
    assert rewrite(":meth:`Solution.evaluate`, ``x``") == "`Solution.evaluate`, ``x``"


def test_choosing_a_solver_lists_every_method() -> None:
    """The method table of the solver guide has a row for every name of ``METHODS``."""
    from odenet.solvers import METHODS

    rows = [
        line
        for line in (ROOT / "docs" / "choosing-a-solver.md").read_text().splitlines()
        if line.startswith("| `")
    ]
    first_cells = " ".join(row.split(" | ")[0] for row in rows)
    missing = [name for name in sorted(METHODS) if f"`{name}`" not in first_cells]
    assert not missing, f"docs/choosing-a-solver.md has no row for {missing}"
