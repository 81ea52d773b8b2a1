"""The design's import rules (DESIGN.md), checked by reading every module's imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("graphs", "hardware_profiles", "planner")
OPTIONAL = ("torch", "torchvision", "fvcore", "onnx", "onnxscript", "onnxruntime")


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (type-only imports)."""
    found: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def imports_of(path: Path) -> set[str]:
    """Modules a file imports at run time (any depth in the file)."""
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def roots(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_graphs_and_profiles_never_import_planner_or_each_other() -> None:
    for path in modules("graphs"):
        assert not roots(imports_of(path)) & {"planner", "hardware_profiles"}, path
    for path in modules("hardware_profiles"):
        assert not roots(imports_of(path)) & {"planner", "graphs"}, path


def test_only_the_ilp_imports_pulp() -> None:
    for package in PACKAGES:
        for path in modules(package):
            if "pulp" in roots(imports_of(path)):
                assert path == ROOT / "planner" / "search" / "ilp.py", path


def test_optional_frameworks_only_inside_their_importers() -> None:
    importers, export = ROOT / "graphs" / "importers", ROOT / "planner" / "export"
    allowed = {importers / "torch_import.py", importers / "torch_base.py",
               importers / "torch_ops.py", importers / "onnx_import.py",
               importers / "torch_via_onnx.py", importers / "torch_source.py",
               importers / "onnx_observed.py",  # onnxruntime, for data-dependent shapes
               export / "onnx_builder.py", export / "runtime.py",  # onnx, onnxruntime
               ROOT / "hardware_profiles" / "onnx_kernels.py"}  # calibrating onnxruntime
    for package in PACKAGES:
        for path in modules(package):
            if roots(imports_of(path)) & set(OPTIONAL):
                assert path in allowed, path


def test_nothing_in_planner_imports_the_cli() -> None:
    for path in modules("planner"):
        if path.name not in ("cli.py", "__main__.py"):
            assert "planner.cli" not in imports_of(path), path


def test_packages_import_without_loading_optional_frameworks() -> None:
    """torch and onnx are extras: importing the packages must not load them."""
    code = ("import sys, graphs, hardware_profiles, planner, planner.cli; "
            f"print(sorted(m for m in {OPTIONAL!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"
