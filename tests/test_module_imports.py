"""Every project module imports on its own, and no module imports itself back.

An import circle hides as long as some other module happens to be imported first; importing each
module alone, in an interpreter where no project module was imported yet, is what exposes it.
The static check also counts the imports under ``TYPE_CHECKING``, which type checkers and IDEs
follow though Python does not at run time.
"""

import ast
import fnmatch
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def project_modules() -> list[str]:
    """The modules pyproject.toml ships: its top-level modules and every module of its
    packages (entry points aside)."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["packages"]["find"]["include"]
    modules = set(setuptools["py-modules"])
    for package in ROOT.iterdir():
        if not (package / "__init__.py").exists():
            continue
        if not any(fnmatch.fnmatch(package.name, pattern) for pattern in patterns):
            continue
        for path in package.rglob("*.py"):
            if path.name == "__main__.py":  # an entry point: importing it runs the command
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(modules)


# Runs in a fresh interpreter: loads the third-party modules the project imports (only to save
# time), then forks one child per project module, which imports that module alone: no other
# project module has been imported in it before.
IMPORT_EACH_ALONE = """
import importlib, json, os, sys
job = json.load(sys.stdin)
for name in job["preload"]:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
assert not set(job["modules"]) & set(sys.modules), "a project module was preloaded"
failures = {}
for module in job["modules"]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            importlib.import_module(module)
        except BaseException as error:
            os.write(write_end, f"{type(error).__name__}: {error}".encode())
            os._exit(1)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    if status:
        failures[module] = report or f"wait status {status}"
print(json.dumps(failures))
"""


def import_each_alone(modules: list[str]) -> dict[str, str]:
    """What importing each module failed with, each in an interpreter where no other project
    module was imported before (with this checkout first on the path)."""
    preload = sorted(set(third_party_imports(modules)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", IMPORT_EACH_ALONE], cwd=ROOT, env=env,
                          input=json.dumps({"preload": preload, "modules": modules}),
                          capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout)


def test_the_module_list_is_complete() -> None:
    modules = project_modules()
    assert {"app", "context", "errors", "middleware", "settings", "resolvers.root",
            "schema.types", "db.engine", "workflow.service"} <= set(modules)
    assert not any(m.startswith(("tests", "migrations", "web")) for m in modules)


def test_every_module_imports_on_its_own() -> None:
    assert import_each_alone(project_modules()) == {}


def test_an_import_circle_fails_the_check(tmp_path: Path) -> None:
    """The check itself: a circle that imports fine in one order fails in the other."""
    package = tmp_path / "circle"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("import circle.b\n\nA = 1\n")
    (package / "b.py").write_text("from circle.a import A\n\nB = A\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", IMPORT_EACH_ALONE], cwd=tmp_path, env=env,
                          input=json.dumps({"preload": [], "modules": ["circle.a", "circle.b"]}),
                          capture_output=True, text=True, timeout=60, check=True)
    assert list(json.loads(done.stdout)) == ["circle.a"]  # circle.b alone imports fine


def imports_in(module: str) -> Iterator[tuple[str, str | None]]:
    """What ``module``'s source imports, ``TYPE_CHECKING`` blocks included: (module, name)
    for ``from module import name``, (module, None) for ``import module``."""
    source = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    if not source.exists():
        source = ROOT.joinpath(*module.split("."), "__init__.py")
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from ((node.module, alias.name) for alias in node.names)


def project_imports(module: str, modules: set[str]) -> Iterator[str]:
    """The project modules ``module`` imports."""
    for imported, name in imports_in(module):
        if name and f"{imported}.{name}" in modules:
            yield f"{imported}.{name}"
        elif imported in modules:
            yield imported


def third_party_imports(modules: list[str]) -> Iterator[str]:
    """The modules outside the project that the project imports (the standard library's too)."""
    ours = {m.split(".")[0] for m in modules}
    for module in modules:
        yield from (imported for imported, _ in imports_in(module)
                    if imported.split(".")[0] not in ours)


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph``, as the modules along it, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module):], module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            found = visit(imported, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    for module in sorted(graph):
        found = visit(module, [])
        if found:
            return found
    return None


def test_cycle_in_finds_a_circle() -> None:
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle_even_for_type_checking() -> None:
    modules = set(project_modules())
    graph = {m: set(project_imports(m, modules)) - {m} for m in modules}
    assert cycle_in(graph) is None
