"""mkdocs hook: the API reference pages, generated from ``__all__`` at every build, and
the table of Hydra config groups (from ``conf/``) on the experiments page.

One page per subpackage of odenet that defines ``__all__`` (``api/<name>.md``), with one
mkdocstrings block per exported name, and a page for ``odenet`` itself (``api/index.md``):
names re-exported from a subpackage link to their entry there, the others are rendered.
A name added to an ``__all__`` appears in the reference without editing any page, and a
new subpackage gets its page and its nav entry: the ``API reference`` section of the nav in
``mkdocs.yml`` names only ``api/index.md``, and :func:`on_config` expands it into one entry
per generated page. ``tests/test_docs.py`` checks that every public name is covered and
every page is in the nav mkdocs builds.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import types
from pathlib import Path
from typing import Any

PACKAGE = "odenet"
#: the title of the nav section that :func:`on_config` fills with the generated pages
NAV_SECTION = "API reference"
CONF = Path(__file__).resolve().parents[2] / "conf"
#: the line of ``docs/experiments.md`` replaced by the config-group table
CONF_PLACEHOLDER = "<!-- conf-groups -->"


def _load_sibling(name: str) -> types.ModuleType:
    """A module of this folder (mkdocs loads hooks by path, not as a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rewrite_roles = _load_sibling("griffe_rst_roles").rewrite_roles


def subpackages() -> list[str]:
    """Names of odenet's subpackages that define ``__all__`` (``conf`` holds only YAML)."""
    pkg = importlib.import_module(PACKAGE)
    names = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{PACKAGE}.{info.name}")
        if getattr(module, "__all__", None):
            names.append(info.name)
    return sorted(names)


def _summary(obj: object) -> str:
    """The first paragraph of ``obj``'s docstring, on one line (classes, functions and
    modules only: other objects carry their type's docstring)."""
    if not isinstance(obj, (type, types.FunctionType, types.ModuleType)):
        return ""
    doc = (obj.__doc__ or "").strip()
    paragraph = doc.split("\n\n", 1)[0]
    text = " ".join(line.strip() for line in paragraph.splitlines())
    return rewrite_roles(text).replace("|", "\\|")


def subpackage_page(name: str) -> str:
    """Markdown of ``api/<name>.md``: the module docstring, then every name of ``__all__``."""
    module = importlib.import_module(f"{PACKAGE}.{name}")
    lines = [
        f"# `{PACKAGE}.{name}`",
        "",
        f"::: {PACKAGE}.{name}",
        "    options:",
        "      members: false",
        "      show_root_heading: false",
        "      show_root_toc_entry: false",
        "",
    ]
    for export in module.__all__:
        obj = getattr(module, export)
        if isinstance(obj, types.ModuleType):
            lines += [f"## `{export}`", "", f"Module `{obj.__name__}`.", ""]
            continue
        lines += [f"::: {PACKAGE}.{name}.{export}", "    options:", "      heading_level: 2", ""]
    return "\n".join(lines)


def _home(name: str, obj: object, subs: list[str]) -> str | None:
    """The subpackage whose ``__all__`` exports the same object under the same name."""
    for sub in subs:
        module = importlib.import_module(f"{PACKAGE}.{sub}")
        if name in module.__all__ and getattr(module, name) is obj:
            return sub
    return None


def index_page() -> str:
    """Markdown of ``api/index.md``: every name of ``odenet.__all__``."""
    pkg = importlib.import_module(PACKAGE)
    subs = subpackages()
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings at every build: one page per subpackage, listing",
        "its `__all__`. The names importable from `odenet` itself:",
        "",
        "| name | documented in | summary |",
        "|---|---|---|",
    ]
    rendered = []
    for name in pkg.__all__:
        obj = getattr(pkg, name)
        if isinstance(obj, types.ModuleType) and obj.__name__.split(".")[-1] in subs:
            sub = obj.__name__.split(".")[-1]
            lines.append(f"| `odenet.{name}` | [`odenet.{sub}`]({sub}.md) | {_summary(obj)} |")
            continue
        home = _home(name, obj, subs)
        if home is not None:
            link = f"[`odenet.{home}.{name}`][odenet.{home}.{name}]"
            lines.append(f"| `odenet.{name}` | {link} | {_summary(obj)} |")
        else:
            rendered.append(name)
            lines.append(f"| `odenet.{name}` | [below][odenet.{name}] | {_summary(obj)} |")
    lines += ["", "Subpackages:", ""]
    lines += [f"- [`odenet.{sub}`]({sub}.md)" for sub in subs]
    lines += ["", "## Defined at the top level", ""]
    for name in rendered:
        lines += [f"::: odenet.{name}", "    options:", "      heading_level: 3", ""]
    return "\n".join(lines)


def pages() -> dict[str, str]:
    """``{src_uri: markdown}`` of every generated page."""
    out = {"api/index.md": index_page()}
    for sub in subpackages():
        out[f"api/{sub}.md"] = subpackage_page(sub)
    return out


def api_nav() -> list[dict[str, str]]:
    """The nav entries of the generated pages: ``odenet`` first, then the subpackages."""
    subs = [{f"{PACKAGE}.{sub}": f"api/{sub}.md"} for sub in subpackages()]
    return [{PACKAGE: "api/index.md"}, *subs]


def expand_nav(nav: list[Any] | None) -> list[Any] | None:
    """``nav`` with its top-level ``API reference`` section replaced by :func:`api_nav`.

    ``None`` (no nav in ``mkdocs.yml``: mkdocs lists every page itself) is returned as is.

    Raises:
        ValueError: if ``nav`` has no top-level section titled :data:`NAV_SECTION`.
    """
    if nav is None:
        return None
    out = []
    found = False
    for item in nav:
        if isinstance(item, dict) and NAV_SECTION in item:
            item = {NAV_SECTION: api_nav()}
            found = True
        out.append(item)
    if not found:
        raise ValueError(
            f"the nav of mkdocs.yml has no top-level {NAV_SECTION!r} section for the generated "
            f"API pages; add the line `- {NAV_SECTION}: api/index.md` to it"
        )
    return out


def on_config(config: Any) -> Any:
    """Fill the ``API reference`` section of the nav with every generated page."""
    from mkdocs.exceptions import PluginError

    try:
        config["nav"] = expand_nav(config["nav"])
    except ValueError as exc:
        raise PluginError(str(exc)) from None
    return config


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pages to the build (mkdocs >= 1.6 ``File.generated``)."""
    from mkdocs.structure.files import File

    for uri, text in pages().items():
        files.append(File.generated(config, uri, content=text))
    return files


def _description(path: Path) -> str:
    """The leading comment of a config file (Hydra directives left out), up to the first
    line that ends a sentence."""
    words: list[str] = []
    for line in path.read_text().splitlines():
        text = line.strip()
        if not text.startswith("#"):
            break
        text = text.lstrip("#").strip()
        if not text or text.startswith("@package"):
            continue
        words.append(text)
        if text.endswith((".", ":", ")")):
            break
    return " ".join(words).rstrip(":").replace("|", "\\|")


def conf_groups_table() -> str:
    """Markdown table of every option of every config group under ``conf/``."""
    lines = ["| group | option | what it is |", "|---|---|---|"]
    for path in sorted(CONF.rglob("*.yaml")):
        rel = path.relative_to(CONF)
        if len(rel.parts) < 2:
            continue  # config.yaml, convert.yaml: the primary configs
        group = "/".join(rel.parts[:-1])
        lines.append(f"| `{group}` | `{path.stem}` | {_description(path)} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Put the config-group table in place of its placeholder."""
    if CONF_PLACEHOLDER in markdown:
        return markdown.replace(CONF_PLACEHOLDER, conf_groups_table())
    return markdown
