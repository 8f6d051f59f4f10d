"""Every search setting reaches the engine from LlamaIndex: the retriever, its builders
and the reranker."""

from __future__ import annotations

import pytest
from llama_index.core import Document
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.postprocessor.longcolbert_rerank import LongColBERTRerank
from llama_index.retrievers.longcolbert import LongColBERTRetriever

from longcolbert import Index, InvalidInputError, Reranker

from corpus import DOCS

QUERY = "what is the notice period for termination"
SETTINGS = [{"reread": False}, {"hybrid": False}, {"candidates": 1}]


@pytest.fixture
def index(corpus_index_path, standin_model) -> Index:
    return Index(corpus_index_path, model=standin_model, create=False)


@pytest.mark.parametrize("setting", SETTINGS)
def test_the_retriever_searches_with_its_settings(index, setting):
    expected = [(h.id, p.start, p.end) for h in index.search(QUERY, k=3, passages=1, **setting)
                for p in h.passages]
    found = LongColBERTRetriever(index, similarity_top_k=3, **setting).retrieve(QUERY)
    assert [(n.node.ref_doc_id, n.node.start_char_idx, n.node.end_char_idx)
            for n in found] == expected


def test_a_bad_setting_fails_at_construction(index):
    with pytest.raises(InvalidInputError):
        LongColBERTRetriever(index, candidates=0)


def test_builders_take_device_dtype_and_settings(tmp_path, standin_path):
    documents = [Document(text=text, doc_id=doc_id) for doc_id, text in DOCS.items()]
    built = LongColBERTRetriever.from_documents(documents, tmp_path / "idx", model=standin_path,
                                                device="cpu", dtype="float32", reread=False)
    assert built.search_settings["reread"] is False
    reopened = LongColBERTRetriever.from_persist_dir(tmp_path / "idx", model=standin_path,
                                                     device="cpu", hybrid=False)
    assert reopened.search_settings["hybrid"] is False
    assert reopened.retrieve(QUERY)[0].node.ref_doc_id == "contract"


@pytest.mark.parametrize("setting", [{"reread": False}, {"hybrid": False}])
def test_the_reranker_ranks_with_its_settings(standin_model, setting):
    nodes = [NodeWithScore(node=TextNode(id_=doc_id, text=text), score=0.0)
             for doc_id, text in DOCS.items()]
    engine = Reranker(standin_model, **setting)
    expected = engine.rerank(QUERY, [n.node.text for n in nodes], top_n=3)
    got = LongColBERTRerank(model=standin_model, top_n=3, **setting).postprocess_nodes(
        nodes, query_str=QUERY)
    assert [n.node.node_id for n in got] == [nodes[h.position].node.node_id for h in expected]
    assert [n.score for n in got] == pytest.approx([h.relevance for h in expected], abs=1e-5)
    assert [n.node.metadata["maxsim_score"] for n in got] == pytest.approx(
        [h.score for h in expected], abs=1e-4)


def test_stored_exclusion_keys_of_the_wrong_type_break_no_retrieval(tmp_path, standin_model):
    index = Index(tmp_path / "idx", model=standin_model)
    # a folder made by other code may hold anything under the exclusion keys
    index.add([DOCS["contract"], DOCS["astronomy"]], ids=["contract", "astronomy"],
              metadatas=[{"_excluded_llm_metadata_keys": 5},
                         {"_excluded_embed_metadata_keys": {"a": 1}}])
    found = LongColBERTRetriever(index, similarity_top_k=2).retrieve(QUERY)
    assert {n.node.ref_doc_id for n in found} == {"contract", "astronomy"}
    bad = Document(text=DOCS["garden"], doc_id="garden")
    object.__setattr__(bad, "excluded_llm_metadata_keys", ["ok", 3])
    with pytest.raises(ValueError, match="give a list of metadata key names"):
        LongColBERTRetriever(index).insert(bad)


def test_the_reranker_keeps_encodings_for_the_next_call(standin_model):
    nodes = [NodeWithScore(node=TextNode(id_=doc_id, text=text * 3), score=0.0)
             for doc_id, text in DOCS.items()]
    rerank = LongColBERTRerank(model=standin_model, top_n=3)
    first = rerank.postprocess_nodes(nodes, query_str=QUERY)
    misses = rerank.engine.cache.misses
    second = rerank.postprocess_nodes(nodes, query_str=QUERY)
    assert rerank.engine.cache.misses == misses > 0 and rerank.engine.cache.hits > 0
    assert [n.node.node_id for n in second] == [n.node.node_id for n in first]


def test_the_reranker_scores_the_retrievers_passages_from_the_index(index, standin_model):
    retriever = LongColBERTRetriever(index, similarity_top_k=3, passages_per_document=2,
                                     reread=False)
    nodes = retriever.retrieve(QUERY)
    fresh = LongColBERTRerank(model=standin_model, top_n=3, reread=False)
    stored = LongColBERTRerank(model=standin_model, top_n=3, reread=False, index=retriever)
    expected = fresh.postprocess_nodes(nodes, query_str=QUERY)
    got = stored.postprocess_nodes(nodes, query_str=QUERY)
    assert stored.engine.stored == len(nodes) and stored.engine.cache.misses == 0
    assert got[0].node.node_id == expected[0].node.node_id
    for node in got:  # offsets still point into the stored documents
        source = index.get(node.node.source_node.node_id).text
        assert source[node.node.start_char_idx:node.node.end_char_idx] == node.node.text


def test_node_scores_are_relevances_that_similarity_cutoffs_work_on(index, standin_model):
    from llama_index.core.postprocessor import SimilarityPostprocessor

    nodes = LongColBERTRetriever(index, similarity_top_k=4).retrieve(QUERY)
    scores = [n.score for n in nodes]
    assert all(0 < s < 1 for s in scores)
    cut = sorted(scores)[-2]  # keeps the two best
    kept = SimilarityPostprocessor(similarity_cutoff=cut).postprocess_nodes(nodes)
    assert sorted(n.score for n in kept) == sorted(scores)[-2:]


def test_the_reranker_keeps_all_with_top_n_none_and_the_retrieval_score_if_asked(standin_model):
    nodes = [NodeWithScore(node=TextNode(id_=doc_id, text=text), score=0.25 * i)
             for i, (doc_id, text) in enumerate(DOCS.items())]
    rerank = LongColBERTRerank(model=standin_model, top_n=None, keep_retrieval_score=True)
    out = rerank.postprocess_nodes(nodes, query_str=QUERY)
    assert len(out) == len(nodes) and all(0 < n.score < 1 for n in out)
    given = {n.node.node_id: n.score for n in nodes}
    assert all(n.node.metadata["retrieval_score"] == given[n.node.node_id] for n in out)
    from llama_index.core.schema import MetadataMode

    assert "retrieval_score" not in out[0].node.get_content(metadata_mode=MetadataMode.LLM)
