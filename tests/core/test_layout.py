"""The package is laid out by stage, and the layout holds: documents in, encoding,
ranking, then the two index backends; a lower stage never imports a higher one, no
module imports itself back through others, the PLAID reader and writer share only
the format and the codec, and the public names stay where users import them."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import longcolbert

PACKAGE = Path(longcolbert.__file__).parent

# the shared top-level modules every stage may import (they import no stage)
SHARED = {"errors", "defaults", "folders", "filters", "progress", "results", "render"}
# stage of each part, lowest first; a module imports only from its stage or lower ones
STAGE = {**{name: 0 for name in SHARED}, "documents": 1, "encoding": 2, "ranking": 3,
         "backend": 4, "plaid": 5, "qdrant": 6, "reranker": 7, "locations": 7, "cli": 7,
         "__init__": 8}


def module_names() -> dict[str, Path]:
    """Dotted name under the package (``ranking.passages``) -> its file."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        names[".".join(parts)] = path
    return names


def imports(lazy: bool) -> dict[str, set[str]]:
    """Module -> the package modules it imports: at load only (top level, not under
    ``TYPE_CHECKING``), or with ``lazy`` also those inside functions."""
    graph = {}
    for name, path in module_names().items():
        package = name.split(".")[:-1]
        if name.endswith("__init__"):
            package = name.split(".")[:-1]
        tree = ast.parse(path.read_text())
        nodes = ast.walk(tree) if lazy else iter(tree.body)
        found = set()
        for node in nodes:
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
                if node.module:
                    found.add(".".join(target))
                else:
                    found.update(".".join([*target, alias.name]) for alias in node.names)
        graph[name] = {t for t in found if t}
    return graph


def stage(module: str) -> int:
    return STAGE[module.split(".")[0]]


def test_every_module_has_a_stage():
    assert all(m.split(".")[0] in STAGE for m in module_names()), sorted(module_names())


def test_no_stage_imports_a_higher_one():
    wrong = [f"{module} imports {imported}" for module, found in imports(lazy=True).items()
             for imported in found if stage(imported) > stage(module)]
    assert not wrong, wrong


def test_each_stage_says_what_it_does_and_may_import():
    for folder in ("documents", "encoding", "ranking", "plaid", "qdrant"):
        doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
        assert doc and "May import:" in doc, folder


def test_no_module_imports_itself_back_through_others():
    graph = imports(lazy=False)
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        assert module not in trail, " -> ".join(trail + [module])
        if module in done:
            return
        for imported in graph.get(module, ()):
            visit(imported, trail + [module])
        done.add(module)

    for module in graph:
        visit(module, [])


def test_plaid_reader_and_writer_share_only_the_format_and_codec():
    graph = imports(lazy=True)
    reader, writer = graph["plaid.reader"], graph["plaid.writer"]
    assert "plaid.writer" not in reader and "plaid.reader" not in writer
    assert "plaid.format" in reader and "plaid.format" in writer
    assert not {"plaid.reader", "plaid.writer"} & graph["plaid.format"]


def test_the_public_names_are_where_users_import_them():
    for name in longcolbert.__all__:
        value = getattr(longcolbert, name)
        assert getattr(value, "__name__", name) == name or name == "DEFAULT_MODEL", name
    assert sorted(longcolbert.__all__) == sorted(longcolbert._WHERE)
    for module in ("longcolbert.plaid.index", "longcolbert.qdrant.index", "longcolbert.reranker"):
        importlib.import_module(module)


def test_the_architecture_page_names_every_module():
    page = (PACKAGE.parents[1] / "docs" / "architecture.md").read_text()
    missing = [f"{name.replace('.', '/')}.py" for name in module_names()
               if not name.endswith("__init__") and f"`{name.replace('.', '/')}.py`" not in page]
    assert not missing, f"docs/architecture.md does not name {missing}"
