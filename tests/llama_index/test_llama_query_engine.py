"""End to end: RetrieverQueryEngine with the retriever, the reranker and MockLLM."""

from __future__ import annotations

from llama_index.core import get_response_synthesizer
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.postprocessor.longcolbert_rerank import LongColBERTRerank
from llama_index.retrievers.longcolbert import LongColBERTRetriever

from longcolbert import Index

QUERY = "what is the notice period for termination"


def test_query_engine_answers_with_highlighted_source_nodes(corpus_index_path, standin_model):
    index = Index(corpus_index_path, model=standin_model, create=False)
    retriever = LongColBERTRetriever(index, similarity_top_k=5, passages_per_document=2)
    rerank = LongColBERTRerank(model=standin_model, top_n=2, return_passages=True)
    llm = MockLLM()  # echoes its prompt, so the answer shows what the LLM was given
    engine = RetrieverQueryEngine(
        retriever=retriever,
        response_synthesizer=get_response_synthesizer(llm=llm),
        node_postprocessors=[rerank],
    )
    response = engine.query(QUERY)

    assert len(response.source_nodes) == 2
    top = response.source_nodes[0].node
    assert top.ref_doc_id == "contract"
    document = index.get("contract").text
    assert document[top.start_char_idx : top.end_char_idx] == top.text
    words = {top.text[h["start"] : h["end"]] for h in top.metadata["highlights"]}
    assert {"notice", "period", "termination"} <= words
    assert top.text in str(response)  # the passage reached the LLM's prompt...
    assert "highlights" not in str(response)  # ...without the scoring metadata
    assert QUERY in str(response)
