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
        "        if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PyQt6', 'textual', 'pyqtgraph'))\n"
        "print(','.join(bad))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", f"UI toolkits loaded by headless layers: {res.stdout}"


def _module_imports(root: pathlib.Path, package: str) -> dict[str, set[str]]:
    """Every module's imports (top level and inside functions) of modules of the same package."""
    import ast

    graph: dict[str, set[str]] = {}
    for path in (root / package.replace(".", "/")).rglob("*.py"):
        rel = path.relative_to(root).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps.add(node.module)
                deps |= {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {d for d in deps if d.startswith(package + ".") or d == package}
    return {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state, stack = [], {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return cycles


def test_store_and_operator_have_no_import_cycle():
    # Lazy imports inside functions count too: a circle hidden in a function is still a circle.
    for package in ("lwd_core.store", "lwd_operator"):
        graph = _module_imports(ROOT, package)
        graph = {m: {d for d in deps if not (m.startswith(d + ".") and d == package)} for m, deps in graph.items()}
        assert _cycles(graph) == [], f"import cycles in {package}"


def test_only_the_cli_package_imports_argparse():
    import ast

    offenders = []
    for pkg in ("lwd_core", "lwd_operator", "ui"):
        for path in (ROOT / pkg).rglob("*.py"):
            if path.relative_to(ROOT).parts[:2] == ("lwd_operator", "cli"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom) else [])
                if "argparse" in names:
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], f"argparse outside lwd_operator/cli: {offenders}"
