"""The layers go one way (issue 28): no import cycle between edgebench's modules, the API never
imports the CLI, the lower layers import neither of them nor the reports, and every command's
options come from the one option table.

The import graph is read from the source (an AST scan, nothing imported): every `import` and
`from ... import` counts, inside functions too, and `from edgebench.x import y` is an edge to the
submodule edgebench.x.y when y is one. Imports under `if TYPE_CHECKING:` never run and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path


import edgebench

SRC = Path(edgebench.__file__).resolve().parent
PACKAGE = "edgebench"

LOWER = ("pipeline", "measure", "runtimes", "exporters", "frameworks", "models", "results", "data", "registry",
         "config")
UPPER = ("cli", "api", "report", "progress")


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = (PACKAGE, *path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The module an imported name lives in: the name itself, or the package that holds it."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (never run)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_only(tree)
    found: set[str | None] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {_known(a.name, modules) for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else _known(target, modules))
    return {m for m in found if m and m != module}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def _components(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def _cycle_in(component: frozenset[str], graph: dict[str, set[str]]) -> list[str]:
    """One cycle through a component, as a path: a -> b -> ... -> a (the shortest from its first module)."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & component):
            if child == start:
                return paths[node] + [start]
            if child not in paths:
                paths[child] = paths[node] + [child]
                queue.append(child)
    raise AssertionError(f"no cycle through {sorted(component)}")  # pragma: no cover


def _under(module: str, parts: tuple[str, ...]) -> bool:
    return any(module == f"{PACKAGE}.{p}" or module.startswith(f"{PACKAGE}.{p}.") for p in parts)


def test_the_scan_sees_imports_inside_functions_and_submodules():
    """The scan itself: api's lazy imports are edges, `from edgebench import data` is an edge to the
    submodule, a relative import resolves, and a TYPE_CHECKING import is not one."""
    graph = import_graph()
    assert "edgebench.pipeline" in graph["edgebench.api"]  # run_job's `from edgebench.pipeline import Run`
    assert "edgebench.pipeline.deploy" in graph["edgebench.api"]
    assert "edgebench.data" in graph["edgebench.api"]  # resume_config's `from edgebench import data`
    assert "edgebench.registry" in graph["edgebench.config"]  # inside known_frameworks()
    assert "edgebench.models.zoo" in graph["edgebench.models"]
    assert len(graph) > 50


def _describe(graph: dict[str, set[str]]) -> list[str]:
    return [" -> ".join(_cycle_in(c, graph)) for c in _components(graph)]


def test_no_import_cycle_between_modules():
    cycles = _describe(import_graph())
    assert not cycles, "import cycles: " + "; ".join(cycles)


def test_the_package_root_is_imported_by_no_module_of_its_own():
    """`from edgebench import __version__` would close a cycle (the root imports the API on first
    use); modules read edgebench.version instead."""
    graph = import_graph()
    assert not [m for m, targets in graph.items() if PACKAGE in targets]


def test_the_api_never_imports_the_cli():
    graph = import_graph()
    assert "edgebench.cli" not in graph["edgebench.api"]
    assert "edgebench.progress" in graph["edgebench.api"]  # progress=True draws with the shared display
    assert not {"edgebench.cli", "edgebench.api"} & graph["edgebench.progress"]


def test_lower_layers_import_no_upper_one():
    """Nothing under pipeline, measure, runtimes, exporters, frameworks, models, results, data,
    registry or config imports the CLI, the API, the progress display or the reports: data flows up
    to them, never back."""
    graph = import_graph()
    breaks = sorted(f"{m} imports {t}" for m, targets in graph.items() if _under(m, LOWER)
                    for t in targets if _under(t, UPPER))
    assert not breaks, breaks


def _commands():
    """Every command (and `list` subcommand) of the CLI: its table name and its click command."""
    import typer

    from edgebench import cli

    root = typer.main.get_command(cli.app)
    for name, cmd in root.commands.items():
        if hasattr(cmd, "commands"):
            for sub, subcmd in cmd.commands.items():
                yield f"{name} {sub}", subcmd
        else:
            yield name, cmd


def test_every_command_takes_its_options_from_the_one_table():
    """Each command's options are exactly its entries of options.TABLE, with the table's flag and
    help (one help text per option), and no command names an option twice."""
    from edgebench.options import for_command
    from edgebench.report.escape import rich_text

    seen = set()
    for name, cmd in _commands():
        table = {o.name: o for o in for_command(name)}
        assert len(table) == len(for_command(name)), name
        options = {p.name: p for p in cmd.params if p.param_type_name == "option"}
        assert set(options) == set(table), (name, set(options) ^ set(table))
        for key, o in table.items():
            assert o.flag in options[key].opts and options[key].help == rich_text(o.text), (name, key)
        seen.add(name)
    assert {"run", "deploy", "sweep", "compare", "doctor", "list runs", "list boards", "list models"} <= seen


def test_help_names_models_and_formats_from_their_registries():
    from edgebench import registry
    from edgebench.models import BUILTIN
    from edgebench.options import BY_NAME

    assert all(m in BY_NAME["model"].text for m in BUILTIN)
    assert all(f in BY_NAME["formats"].text for f in registry.formats())
    assert "{" not in BY_NAME["formats"].text


def test_no_class_over_250_lines_and_no_function_over_80():
    """Units small enough to read whole (issue 28): a class of more than 250 lines, or a function of
    more than 80, is a sign it does several things; split it by what it does."""
    too_long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            limit = 250 if isinstance(node, ast.ClassDef) else \
                80 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
            if limit and node.end_lineno - node.lineno + 1 > limit:
                too_long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} "
                                f"({node.end_lineno - node.lineno + 1} lines)")
    assert not too_long, "too long: " + "; ".join(too_long)
