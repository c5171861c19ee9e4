"""The import layers of the engine, read from the source (every import, function-level ones too).

The contract (the note in DESIGN.md draws the same picture):

- ``sleepfm_engine`` never imports the application or a Qt binding: it must run headless.
- The data layer (formats, recordings, hypnograms, statistics, channel rules, errors, the
  contract) never imports the model layers (inference, training, report, analysis, models) or
  torch: reading a file must not need a GPU stack.
- No import circle between the engine's packages and top-level modules, except the benign ones
  listed in :data:`BENIGN_CIRCLES` with the reason each is harmless.

Imports made by name at run time (``_lazy.lazy_exports`` tables, ``importlib``) are not seen
here; the run-time test at the end covers the Qt rule for them.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import sleepfm_engine

ENGINE = Path(sleepfm_engine.__file__).parent
PACKAGE = "sleepfm_engine"
#: Top-level names the engine must never import.
QT_MODULES = ("sleepfm_gui", "PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "qtpy")
#: The data layer: units (a top-level module or a sub-package of the engine) that read and
#: describe data and must not pull in models or torch.
DATA_LAYER = ("formats", "recording", "hypnogram", "sleep_stats", "channels", "errors", "contract")
#: What the data layer must not import: engine units of the model layers, and torch.
MODEL_LAYER = ("inference", "training", "report", "analysis", "models")
HEAVY = ("torch",)
#: Circles between engine units that are known and harmless, with the reason. A circle is a
#: frozenset of unit names (a top-level module or a sub-package of ``sleepfm_engine``).
BENIGN_CIRCLES: dict[frozenset[str], str] = {
    frozenset({"hypnogram", "sleep_stats"}):
        "sleep_stats needs the stage vocabulary (module level); Hypnogram.statistics() and "
        ".agreement() delegate to sleep_stats through imports inside those methods, so neither "
        "module needs the other while it is being imported",
}


# ------------------------------------------------------------------------------------- reading
def module_name(path: Path, root: Path = ENGINE, package: str = PACKAGE) -> str:
    """Dotted module name of a source file of ``package`` (``__init__`` names the package)."""
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Every module ``source`` imports, anywhere in it, as absolute dotted names.

    ``from X import y`` yields both ``X`` and ``X.y`` (``y`` may be a sub-module); relative
    imports are resolved against ``module``.
    """
    here = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[:len(here.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def engine_imports(root: Path = ENGINE, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module name -> every name it imports, for each source file under ``root``."""
    return {module_name(p, root, package): imported_names(p.read_text(encoding="utf-8"),
                                                          module_name(p, root, package),
                                                          p.name == "__init__.py")
            for p in sorted(root.rglob("*.py"))}


def unit_of(name: str, package: str = PACKAGE) -> str | None:
    """The engine unit (top-level module or sub-package) a dotted name belongs to, or None
    for the package itself and for names outside it."""
    parts = name.split(".")
    return parts[1] if parts[0] == package and len(parts) > 1 else None


def unit_graph(imports: dict[str, set[str]], root: Path = ENGINE, package: str = PACKAGE) -> dict[str, set[str]]:
    """Unit -> units it imports (names that are not units, such as ``X.function``, dropped)."""
    units = {p.stem for p in root.glob("*.py") if p.stem != "__init__"} | \
            {p.parent.name for p in root.glob("*/__init__.py")}
    graph: dict[str, set[str]] = {u: set() for u in units}
    for module, names in imports.items():
        src = unit_of(module, package)
        if src is None:
            continue
        for name in names:
            dst = unit_of(name, package)
            if dst in units and dst != src:
                graph[src].add(dst)
    return graph


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def violations(imports: dict[str, set[str]], sources: tuple[str, ...] | None, forbidden: tuple[str, ...],
               package: str = PACKAGE) -> list[str]:
    """``module -> name`` for each import of a forbidden unit or top-level module by a module
    of the ``sources`` units (every module when None)."""
    bad = []
    for module, names in sorted(imports.items()):
        if sources is not None and unit_of(module, package) not in sources:
            continue
        for name in sorted(names):
            top = name.split(".")[0]
            if top in forbidden or (top == package and unit_of(name, package) in forbidden):
                bad.append(f"{module} -> {name}")
    return bad


@pytest.fixture(scope="module")
def imports() -> dict[str, set[str]]:
    return engine_imports()


# --------------------------------------------------------------------------------- the contract
def test_engine_never_imports_the_application_or_qt(imports):
    assert violations(imports, None, QT_MODULES) == []


def test_data_layer_never_imports_model_layers_or_torch(imports):
    assert violations(imports, DATA_LAYER, MODEL_LAYER + HEAVY) == []


def test_engine_has_no_import_circle_except_the_documented_benign_ones(imports):
    found = circles(unit_graph(imports))
    assert [sorted(c) for c in found if c not in BENIGN_CIRCLES] == []


def test_every_data_layer_unit_exists_so_the_contract_checks_something():
    units = {p.stem for p in ENGINE.glob("*.py")} | {p.parent.name for p in ENGINE.glob("*/__init__.py")}
    assert set(DATA_LAYER) <= units


def test_importing_every_engine_module_loads_no_qt():
    code = (
        "import importlib, pkgutil, sys\n"
        "import sleepfm_engine\n"
        "for m in pkgutil.walk_packages(sleepfm_engine.__path__, 'sleepfm_engine.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------- the checker catches things
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_checker_sees_function_level_relative_and_from_imports(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "",
        "formats/__init__.py": "",
        "formats/reader.py": "def read():\n    from ..inference import stage\n    import torch\n",
        "hypnogram.py": "from . import sleep_stats\n",
        "sleep_stats.py": "from .hypnogram import STAGES\n",
        "inference/__init__.py": "def f():\n    from PySide6 import QtCore\n",
    })
    imports = engine_imports(root, "pkg")
    assert violations(imports, ("formats",), MODEL_LAYER + HEAVY, "pkg") == [
        "pkg.formats.reader -> pkg.inference", "pkg.formats.reader -> pkg.inference.stage",
        "pkg.formats.reader -> torch"]
    assert violations(imports, None, QT_MODULES, "pkg") == ["pkg.inference -> PySide6",
                                                            "pkg.inference -> PySide6.QtCore"]
    assert circles(unit_graph(imports, root, "pkg")) == [frozenset({"hypnogram", "sleep_stats"})]


def test_checker_finds_a_circle_through_three_units():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [frozenset({"a", "b", "c"})]
