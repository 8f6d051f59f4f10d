"""The package's modules import each other without cycles, so each can be read (and
tested) on its own; the PLAID reader and writer share only the format module."""

from __future__ import annotations

import ast
from pathlib import Path

import longcolbert

PACKAGE = Path(longcolbert.__file__).parent


def imports_at_load() -> dict[str, set[str]]:
    """Module -> the package modules it imports when it is loaded (top level, not
    inside functions, not under ``TYPE_CHECKING``)."""
    graph = {}
    for path in PACKAGE.glob("*.py"):
        found = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(alias.name for alias in node.names)
        graph[path.stem] = found
    return graph


def test_no_module_imports_itself_back_through_others():
    graph = imports_at_load()
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


def test_plaid_reader_and_writer_share_only_the_format():
    graph = imports_at_load()
    assert "plaid_writer" not in graph["plaid"] and "plaid" not in graph["plaid_writer"]
    assert "plaid_format" in graph["plaid"] and "plaid_format" in graph["plaid_writer"]
    assert "plaid_writer" not in graph["plaid_format"] and "plaid" not in graph["plaid_format"]


def test_the_readme_says_where_every_module_lives():
    readme = (PACKAGE.parents[1] / "README.md").read_text()
    section = readme[readme.index("### Where each step lives"):]
    missing = [p.name for p in PACKAGE.glob("*.py")
               if p.name != "__init__.py" and f"`{p.name}`" not in section]
    assert not missing, f"README's 'Where each step lives' does not name {missing}"
