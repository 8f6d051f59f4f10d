"""langchain-longcolbert stands alone: no LlamaIndex import, and it works without LlamaIndex."""

from __future__ import annotations

from isolation import imported_packages, run_python


def test_import_does_not_load_llama_index():
    loaded = imported_packages("langchain_longcolbert")
    assert "langchain_core" in loaded
    assert "llama_index" not in loaded


def test_searches_with_llama_index_unavailable(corpus_index_path, standin_path):
    code = (
        "from langchain_longcolbert import LongColBERTRetriever\n"
        f"r = LongColBERTRetriever(index={corpus_index_path!r}, model={standin_path!r}, k=1)\n"
        "print(r.invoke('notice period for termination')[0].metadata['doc_id'])\n"
    )
    assert run_python(code, blocked={"llama_index"}).strip() == "contract"
