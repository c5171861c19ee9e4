"""The lazy top-level exports type-check: mypy sees their real signatures in a user's script."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TYPING = ROOT / "tests" / "typing"


def _mypy(*scripts: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(TYPING / "mypy.ini"),
                           *(str(s.relative_to(ROOT)) for s in scripts)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_user_script_passes_mypy_and_a_wrong_one_is_rejected():
    proc = _mypy(TYPING / "user_script.py", TYPING / "wrong_script.py")
    lines = proc.stdout.splitlines()
    assert not [ln for ln in lines if ln.startswith("tests/typing/user_script.py")], proc.stdout
    wrong = [ln for ln in lines if ln.startswith("tests/typing/wrong_script.py")]
    assert any(':6: error: Argument 1 to "open_recording" has incompatible type "int"' in ln
               for ln in wrong), proc.stdout
    assert any(":7: error: Incompatible types in assignment" in ln for ln in wrong), proc.stdout
    assert proc.returncode == 1


def test_type_checking_imports_match_the_lazy_exports():
    import sleepfm_engine

    tree = ast.parse((ROOT / "sleepfm_engine" / "__init__.py").read_text())
    guarded = next(n for n in tree.body if isinstance(n, ast.If)
                   and isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING")
    seen = {alias.name: node.module for node in guarded.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}
    assert seen == sleepfm_engine._EXPORTS
