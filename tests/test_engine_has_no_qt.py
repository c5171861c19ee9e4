"""The engine must stay importable and usable without Qt."""
import subprocess
import sys
from pathlib import Path

import sleepfm_engine

ENGINE = Path(sleepfm_engine.__file__).parent
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "qtpy", "sleepfm_gui")


def test_engine_source_never_imports_qt():
    offenders = []
    for py in ENGINE.rglob("*.py"):
        for n, line in enumerate(py.read_text(encoding="utf-8").splitlines(), 1):
            s = line.strip()
            if s.startswith(("import ", "from ")):
                mod = s.split()[1].split(".")[0]
                if mod in QT_MODULES:
                    offenders.append(f"{py.name}:{n}: {s}")
    assert offenders == []


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
