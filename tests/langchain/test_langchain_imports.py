"""langchain-longcolbert stands alone: no LlamaIndex import, and it works without LlamaIndex."""

from __future__ import annotations

import json
import subprocess
import sys

BLOCK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('blocked for this test: ' + name)
sys.meta_path.insert(0, Block())
"""


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_does_not_load_llama_index():
    out = run(
        "import sys, json, langchain_longcolbert\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'llama_index')))"
    )
    assert json.loads(out) == []


def test_searches_with_llama_index_unavailable(corpus_index_path, standin_path):
    code = BLOCK.format(blocked={"llama_index"}) + (
        "from langchain_longcolbert import LongColBERTRetriever\n"
        f"r = LongColBERTRetriever(index={corpus_index_path!r}, model={standin_path!r}, k=1)\n"
        "print(r.invoke('notice period for termination')[0].metadata['doc_id'])\n"
    )
    assert run(code).strip() == "contract"
