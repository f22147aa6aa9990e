"""The package's metadata: the supported range that CI tests, the license file."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_oldest_ci_environment_pins_the_declared_lower_bounds():
    """.ci/oldest.txt, which CI installs into its second environment, pins each
    dependency at the lower bound pyproject.toml declares: the range's lower end
    is what CI tests."""
    lower = {}
    for requirement in _pyproject()["project"]["dependencies"]:
        name, bound = re.match(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement).groups()
        lower[name.lower()] = bound
    pinned = {}
    for line in (ROOT / ".ci" / "oldest.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pinned[name.strip().lower()] = version.strip()
    assert set(lower) <= set(pinned)  # and test-only pins besides
    for name, bound in lower.items():
        # "2.13" is met by "2.13.0": compare release numbers padded with zeros.
        padded = [int(p) for p in bound.split(".")] + [0] * 3
        version = [int(p) for p in pinned[name].split(".")] + [0] * 3
        assert version[:3] == padded[:3], (name, pinned[name], bound)


def test_every_dependency_has_a_lower_bound_and_scikit_learn_an_upper_one():
    dependencies = _pyproject()["project"]["dependencies"]
    assert all(">=" in d for d in dependencies)
    (sklearn,) = [d for d in dependencies if d.startswith("scikit-learn")]
    assert "<" in sklearn.replace(">=", "")


def test_the_license_file_ships_with_the_declared_license():
    project = _pyproject()["project"]
    assert project["license"] == "BSD-3-Clause"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "Neither the name of the copyright holder" in text


def test_every_module_imported_at_the_top_level_is_declared():
    """scipy among them (skmmoe._tasks imports it); optional packages (matplotlib,
    tqdm, polars, pyarrow) are imported inside the functions that use them."""
    imported = {
        match
        for path in (ROOT / "skmmoe").glob("*.py")
        for match in re.findall(r"^(?:from|import) (\w+)", path.read_text(), re.M)
    }
    declared = {
        re.match(r"[A-Za-z0-9_-]+", d).group().replace("-", "_").lower()
        for d in _pyproject()["project"]["dependencies"]
    }
    third_party = imported - set(sys.stdlib_module_names) - {"__future__", "skmmoe"}
    aliases = {"sklearn": "scikit_learn"}
    assert {aliases.get(m, m) for m in third_party} <= declared
    assert "scipy" in third_party


def test_the_layer_contracts_hold():
    """ARCHITECTURE.md's layers, as pyproject.toml's import-linter contracts state
    them (CI runs ``lint-imports`` too)."""
    pytest.importorskip("importlinter")
    command = "import sys; from importlinter.cli import lint_imports_command as c; "
    done = subprocess.run(
        [sys.executable, "-c", command + "sys.exit(c())", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_no_import_cycle():
    """No module of skmmoe imports, however indirectly, a module that imports it
    (imports for type annotations aside)."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("skmmoe", exclude_type_checking_imports=True)
    cycles = [
        (module, imported)
        for module in sorted(graph.modules)
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.startswith("skmmoe")
        and graph.chain_exists(importer=imported, imported=module)
    ]
    assert not cycles, cycles


def _code_lines(node: ast.AST) -> int:
    """The lines of a function or class, its docstrings (and those of what it
    holds, attribute docstrings included) not counted, nor a function's
    signature (an estimator's ``__init__`` lists every parameter there)."""
    lines = set(range(node.lineno, node.end_lineno + 1))
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        lines -= set(range(node.lineno + 1, node.body[0].lineno))
    for inner in ast.walk(node):
        body = getattr(inner, "body", None)
        if not isinstance(body, list):
            continue
        for stmt in body:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                if isinstance(stmt.value.value, str):
                    lines -= set(range(stmt.lineno, stmt.end_lineno + 1))
    return len(lines)


def test_functions_and_classes_stay_small():
    """Every function of the package is at most 80 lines and every class at most
    400, docstrings not counted: a longer one hides steps that deserve names."""
    long = []
    for path in sorted((ROOT / "skmmoe").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            limit = (
                80
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                else 400
                if isinstance(node, ast.ClassDef)
                else None
            )
            if limit is not None and _code_lines(node) > limit:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not long, long
