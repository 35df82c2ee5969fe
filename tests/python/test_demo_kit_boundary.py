"""The production code stands alone: nothing outside ``ingestion/demo_kit`` imports the demo kit.

Two independent checks: the source of every production module is parsed and each import statement (at any
depth, relative ones resolved, ``importlib.import_module("...")`` too) is checked; and every production
module is imported in a fresh interpreter, which must not have loaded a demo-kit module. The CLI may load the
kit lazily, inside the function that runs the demo, generate and serve commands only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ingestion"
DEMO_KIT = "ingestion.demo_kit"
# file (relative to the repository) -> the functions in which a lazy demo-kit import is allowed
ALLOWED_LAZY = {"ingestion/cli.py": {"_demo_kit_command"}}
# modules that need the optional airflow extra to import (the AST check still reads them)
NEEDS_AIRFLOW = ("ingestion.orchestration.dag", "ingestion.orchestration.dags")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_demo_kit(name: str) -> bool:
    return name == DEMO_KIT or name.startswith(DEMO_KIT + ".")


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module an ImportFrom names, relative imports resolved against ``module``."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def demo_kit_imports(path: Path, root: Path, allowed_functions: frozenset[str] = frozenset()) -> list[str]:
    """``file:line module`` for each demo-kit import in ``path`` outside the ``allowed_functions``."""
    module = module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []

    def visit(node: ast.AST, function: str | None) -> None:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Call):
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if callee in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                names = [str(node.args[0].value)]
        hits = [name for name in names if _is_demo_kit(name)]
        if hits and function not in allowed_functions:
            found.append(f"{path.relative_to(root)}:{node.lineno} {hits[0]}")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name if function is None else function
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, None)
    return found


def production_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if (PACKAGE / "demo_kit") not in p.parents)


def test_the_check_catches_planted_imports(tmp_path: Path) -> None:
    """Each way of importing the kit is caught; a clean module and an allowed lazy import are not."""
    package = tmp_path / "ingestion"
    (package / "sources").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sources" / "__init__.py").write_text("")
    planted = {
        "top.py": "from ingestion.demo_kit.generate import generate\n",
        "plain.py": "import ingestion.demo_kit.servers.run as run\n",
        "parent.py": "from ingestion import demo_kit\n",
        "lazy.py": "def load():\n    from ingestion.demo_kit.servers.run import running_servers\n",
        "dynamic.py": "import importlib\nkit = importlib.import_module('ingestion.demo_kit.demo')\n",
        "sources/relative.py": "from ..demo_kit.generate import writers\n",
    }
    for name, text in planted.items():
        (package / name).write_text(text)
        assert demo_kit_imports(package / name, tmp_path), f"missed the demo-kit import in {name}"
    clean = package / "clean.py"
    clean.write_text(
        "from ingestion.loading import load\nfrom ingestion.demos import x\nimport ingestion.demo_kitchen\n"
    )
    assert demo_kit_imports(clean, tmp_path) == []
    allowed = package / "cli.py"
    allowed.write_text("def _demo_kit_command():\n    from ingestion.demo_kit.demo import run_demo\n")
    assert demo_kit_imports(allowed, tmp_path, frozenset({"_demo_kit_command"})) == []
    assert demo_kit_imports(allowed, tmp_path, frozenset({"_run"})) != []


def test_production_code_imports_nothing_from_the_demo_kit() -> None:
    files = production_files()
    assert len(files) > 30 and PACKAGE / "loading.py" in files and PACKAGE / "sources" / "hubspot.py" in files
    found = [
        hit
        for path in files
        for hit in demo_kit_imports(path, ROOT, frozenset(ALLOWED_LAZY.get(str(path.relative_to(ROOT)), ())))
    ]
    assert found == [], "production code imports the demo kit:\n" + "\n".join(found)


def test_importing_every_production_module_loads_no_demo_kit_module() -> None:
    modules = [m for m in map(lambda p: module_name(p, ROOT), production_files()) if not m.startswith(NEEDS_AIRFLOW)]
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m == {DEMO_KIT!r} or m.startswith({DEMO_KIT + '.'!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"importing production modules loaded: {result.stdout}"
