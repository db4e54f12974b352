"""The one-way dependency rule: ui -> lwd_operator -> lwd_core, and no UI toolkit below ui."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    lint = pathlib.Path(sys.executable).with_name("lint-imports")
    res = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "broken" not in res.stdout.lower() or "0 broken" in res.stdout.lower()


def test_headless_layers_load_no_ui_toolkit():
    code = (
        "import sys, pkgutil, importlib\n"
        "import lwd_core, lwd_operator\n"
        "for pkg in (lwd_core, lwd_operator):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PyQt6', 'textual', 'pyqtgraph'))\n"
        "print(','.join(bad))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", f"UI toolkits loaded by headless layers: {res.stdout}"
