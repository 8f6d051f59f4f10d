"""The documentation site builds with MkDocs --strict (no broken link, missing page or
unresolved reference), includes what it promises, and the README stays short."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_the_site_builds_strictly_with_its_api_reference(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    api = (site / "api" / "index.html").read_text()
    for name in ("Index", "QdrantIndex", "Reranker", "Hit", "Passage", "open_index"):
        assert f'id="longcolbert.{name}"' in api, name
    # pages that include other files (snippets) got their text, not the marker
    for page, expected in (("langchain", "LongColBERTReranker"), ("gpu", "H100"),
                           ("llamaindex", "LongColBERTRerank")):
        html = (site / page / "index.html").read_text()
        assert expected in html and "--8&lt;--" not in html, page


def test_a_broken_link_fails_the_build(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# x\n\nSee [nowhere](missing.md).\n")
    config = tmp_path / "mkdocs.yml"
    settings = yaml.safe_load((ROOT / "mkdocs.yml").read_text())  # the real settings
    settings.pop("nav")
    config.write_text(yaml.safe_dump({**settings, "docs_dir": str(docs)}))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-f", str(config),
                           "-d", str(tmp_path / "site")], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode != 0 and "missing.md" in done.stderr


def test_the_readme_ends_within_250_lines_and_links_the_docs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for page in ("install", "cli", "langchain", "llamaindex", "concepts", "benchmarks",
                 "architecture", "development"):
        assert f"(docs/{page}.md)" in readme, page
        assert (ROOT / "docs" / f"{page}.md").exists(), page
