"""The import layering holds, so that a circle cannot come back.

(This guard once lived in tests/test_layers.py and was overwritten by the layers
gallery's test, now tests/test_layer_gallery.py; the name says what it guards.)

* `lint-imports` keeps every contract of `.importlinter` (layers from the IR
  up to the front ends; no stage imports the public API; the op spec imports
  nothing of matdiff).
* The import graph of src/matdiff has no cycle, counting imports inside
  functions too (a lazy import is still a dependency) and imports under
  `if TYPE_CHECKING:` (a type-only cycle is still a circle between two rooms;
  language/rules.py states what it needs of build.py's TypeContext as a Protocol).
* Every module of the package sits in one layer of the contract, so a new
  module has to say where it belongs.
* The guard bites: a cycle planted in a copy of the package is found by both
  the graph walk and `lint-imports`.
"""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "matdiff"
CONFIG = ROOT / ".importlinter"


def _lint(src: Path) -> subprocess.CompletedProcess:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    assert Path(lint).exists(), "lint-imports is missing: pip install -e '.[dev]'"
    path = os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run([lint, "--config", str(CONFIG), "--no-cache"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_import_contracts_are_kept() -> None:
    run = _lint(ROOT / "src")
    assert run.returncode == 0, run.stdout + run.stderr


def _modules(package: Path = PACKAGE) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package's __init__)."""
    out = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


def _imported(module: str, is_package: bool, node: ast.Import | ast.ImportFrom,
              modules: dict) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        prefix = _source(module, is_package, node)
        names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix
                 for a in node.names]
    found = []
    for name in names:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        if name in modules and name != module:
            found.append(name)
    return found


def _source(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The dotted name `from ... import` reads from, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".")[: len(module.split(".")) - node.level + is_package]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = _modules(package)
    graph: dict[str, set[str]] = {}
    for module, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = {target for node in ast.walk(tree)
                         if isinstance(node, ast.Import | ast.ImportFrom)
                         for target in _imported(module, is_package, node, modules)}
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(step) == 1:
                return path[path.index(step):] + [step]
            elif not state.get(step):
                state[step] = 1
                path.append(step)
                stack.append(iter(sorted(graph[step])))
    return None


def test_the_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert "matdiff.api" in graph and len(graph) > 30  # the walk found the package
    cycle = _find_cycle(graph)
    assert cycle is None, "an import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_one() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_module_has_a_layer() -> None:
    config = configparser.ConfigParser()
    config.read(CONFIG)
    layers = config["importlinter:contract:layers"]["layers"]
    named = {name.strip(" ()") for line in layers.split("\n") for name in line.split("|")}
    top = {m.split(".")[1] for m in _modules() if m.count(".") >= 1}
    missing = sorted(top - named)
    assert not missing, (f"modules in no layer of .importlinter: {missing}; add each to the "
                         "layer it belongs to (see docs/contributing.md)")


def test_a_planted_cycle_is_caught(tmp_path: Path) -> None:
    """The IR importing the public API closes a circle: both checks must say so."""
    copy = tmp_path / "src" / "matdiff"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    expr = copy / "ir" / "expr.py"
    expr.write_text(expr.read_text(encoding="utf-8") + "\nfrom .. import api  # planted\n",
                    encoding="utf-8")
    cycle = _find_cycle(import_graph(copy))
    assert cycle is not None and "matdiff.ir.expr" in cycle
    run = _lint(tmp_path / "src")
    assert run.returncode != 0 and "BROKEN" in run.stdout, run.stdout + run.stderr


def test_the_web_page_cannot_reach_past_the_api(tmp_path: Path) -> None:
    """web/compute.py says it uses the public API plus the helpers it names; an import of
    another stage (here the IR) breaks the `web` contract."""
    copy = tmp_path / "src" / "matdiff"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    compute = copy / "web" / "compute.py"
    compute.write_text(compute.read_text(encoding="utf-8") + "\nfrom ..ir import expr  # planted\n",
                       encoding="utf-8")
    run = _lint(tmp_path / "src")
    assert run.returncode != 0 and "BROKEN" in run.stdout, run.stdout + run.stderr
    assert "through the public API" in run.stdout.split("Broken contracts")[-1]


def test_contributing_lists_the_layers_of_the_contract() -> None:
    """docs/contributing.md names the layers as .importlinter has them (they drifted once)."""
    import re

    config = configparser.ConfigParser()
    config.read(CONFIG)
    layers = [line.strip() for line in
              config["importlinter:contract:layers"]["layers"].strip().split("\n")]
    text = (ROOT / "docs" / "contributing.md").read_text(encoding="utf-8")
    listed = text[text.index("- **layers**, top to bottom:"):text.index("A module imports only")]
    names = [n for n in re.findall(r"`([^`]+)`", listed) if n != "python -m matdiff"]
    assert names == layers, (names, layers)


# A private name (`_x`) is its module's own: another module that imports it (or reads it
# off an imported module) is tied to an implementation detail that may change without
# notice. What another layer needs gets a public name where it belongs. Each entry here
# names the importing module and the name, with the reason it is allowed for now.
PRIVATE_IMPORTS_ALLOWED: dict[tuple[str, str], str] = {}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(package: Path = PACKAGE) -> list[tuple[str, str, str]]:
    """(importing module, private name, where) for each name starting with `_` that a module
    takes from another module of the package, by `from m import _x` or as `m._x` on an
    imported module (dunders such as __version__ are public protocol, not private)."""
    modules = _modules(package)
    found = []
    for module, (path, is_package) in sorted(modules.items()):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound: dict[str, str] = {}  # local name -> the package module it is
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _source(module, is_package, node)
                for alias in node.names:
                    if f"{source}.{alias.name}" in modules:  # a module, read as m._x below
                        bound[alias.asname or alias.name] = f"{source}.{alias.name}"
                    elif source in modules and source != module and _private(alias.name):
                        found.append((module, alias.name, f"{path.name}:{node.lineno}"))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in modules:
                        bound[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in bound and _private(node.attr)
                    and bound[node.value.id] != module):
                found.append((module, node.attr, f"{path.name}:{node.lineno}"))
    return found


def test_no_module_imports_a_private_name_of_another() -> None:
    found = private_imports()
    wrong = [f"{where} ({module}) imports {name}" for module, name, where in found
             if (module, name) not in PRIVATE_IMPORTS_ALLOWED]
    assert not wrong, ("private names imported across modules; give what is needed a public "
                       "name at the layer it belongs to:\n" + "\n".join(wrong))
    stale = set(PRIVATE_IMPORTS_ALLOWED) - {(module, name) for module, name, _ in found}
    assert not stale, f"allowed private imports that no longer happen (remove them): {stale}"


def test_the_private_import_check_bites(tmp_path: Path) -> None:
    """Each way of reaching a private name is found; a module's own and a dunder are not."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .low import __version__\n", encoding="utf-8")
    (package / "low.py").write_text("__version__ = '1'\n_hidden = 1\n_it = _hidden\n",
                                    encoding="utf-8")
    (package / "sub" / "__init__.py").write_text("", encoding="utf-8")
    (package / "sub" / "high.py").write_text(
        "from ..low import _hidden\nfrom .. import low as lo\nimport pkg.low\n"
        "def f():\n    from pkg.low import _it\n    return lo._hidden + _it\n", encoding="utf-8")
    found = sorted((m, n) for m, n, _ in private_imports(package))
    assert found == [("pkg.sub.high", "_hidden"), ("pkg.sub.high", "_hidden"),
                     ("pkg.sub.high", "_it")]
