"""The LlamaIndex packages stand alone: no LangChain import, and they work without LangChain."""

from __future__ import annotations

import pytest

from isolation import imported_packages, run_python

PACKAGES = ["llama_index.retrievers.longcolbert", "llama_index.postprocessor.longcolbert_rerank"]


@pytest.mark.parametrize("module", PACKAGES)
def test_import_does_not_load_langchain(module):
    loaded = imported_packages(module)
    assert "llama_index" in loaded
    assert not {p for p in loaded if p.startswith("langchain")}


def test_retrieve_and_rerank_with_langchain_unavailable(corpus_index_path, standin_path):
    code = (
        "from llama_index.retrievers.longcolbert import LongColBERTRetriever\n"
        "from llama_index.postprocessor.longcolbert_rerank import LongColBERTRerank\n"
        f"r = LongColBERTRetriever({corpus_index_path!r}, model={standin_path!r}, similarity_top_k=3)\n"
        "nodes = r.retrieve('notice period for termination')\n"
        f"top = LongColBERTRerank(model={standin_path!r}, top_n=1).postprocess_nodes(\n"
        "    nodes, query_str='notice period for termination')\n"
        "print(top[0].node.ref_doc_id)\n"
    )
    blocked = {"langchain", "langchain_core", "langchain_community", "langchain_classic"}
    assert run_python(code, blocked=blocked).strip() == "contract"
