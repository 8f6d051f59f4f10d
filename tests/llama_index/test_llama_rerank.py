"""LlamaIndex LongColBERTRerank: ordering, top_n, passage mode, no mutation, events."""

from __future__ import annotations

import pytest
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.schema import NodeRelationship, NodeWithScore, RelatedNodeInfo, TextNode
from llama_index.postprocessor.longcolbert_rerank import LongColBERTRerank

from corpus import DOCS
from loop_check import run_counting_ticks
from numerics import assert_same_within

QUERY = "what is the notice period for termination"
FILLER = "Water tomatoes in the morning and prune the roses in early spring. " * 80
ANSWER = "The notice period for termination is three months. "


@pytest.fixture
def nodes() -> list[NodeWithScore]:
    out = [
        NodeWithScore(node=TextNode(id_=i, text=t, metadata={"source": i}), score=0.5)
        for i, t in DOCS.items()
        if i != "contract"
    ]
    # a node cut from a larger document: offsets 1000.. of "handbook"
    long_node = TextNode(
        id_="handbook-part-2",
        text=FILLER + ANSWER + FILLER,
        start_char_idx=1000,
        end_char_idx=1000 + len(FILLER + ANSWER + FILLER),
        metadata={"source": "handbook", "nested": {"a": 1}},
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id="handbook")},
    )
    out.insert(2, NodeWithScore(node=long_node, score=0.1))
    return out


def test_orders_by_relevance_and_keeps_top_n(standin_model, nodes):
    out = LongColBERTRerank(model=standin_model, top_n=2).postprocess_nodes(nodes, query_str=QUERY)
    assert len(out) == 2
    assert out[0].node.node_id == "handbook-part-2"
    assert out[0].node.text == nodes[2].node.text
    assert out[0].score >= out[1].score
    words = {out[0].node.text[h["start"] : h["end"]] for h in out[0].node.metadata["highlights"]}
    assert {"notice", "period", "termination"} <= words
    everything = LongColBERTRerank(model=standin_model, top_n=10).postprocess_nodes(
        nodes, query_str=QUERY
    )
    assert len(everything) == len(nodes)
    assert [n.node.node_id for n in everything[:2]] == [n.node.node_id for n in out]


def test_passage_mode_shrinks_nodes_and_keeps_document_offsets(standin_model, nodes):
    rerank = LongColBERTRerank(
        model=standin_model, top_n=1, return_passages=True, passages_per_node=2
    )
    out = rerank.postprocess_nodes(nodes, query_str=QUERY)
    assert 1 <= len(out) <= 2
    original = nodes[2].node
    best = out[0].node
    assert ANSWER.strip() in best.text and len(best.text) < len(original.text) / 4
    for hit in out:
        node = hit.node
        assert node.ref_doc_id == "handbook"
        local = node.start_char_idx - original.start_char_idx
        assert original.text[local : local + len(node.text)] == node.text
        assert node.end_char_idx - node.start_char_idx == len(node.text)
        assert node.metadata["nested"] == {"a": 1}
        for h in node.metadata["highlights"]:
            assert 0 <= h["start"] < h["end"] <= len(node.text)
        assert "highlights" not in node.get_content(metadata_mode="llm")


def test_never_mutates_the_input_nodes(standin_model, nodes):
    before = [n.model_dump() for n in nodes]
    for mode in (False, True):
        out = LongColBERTRerank(model=standin_model, top_n=3, return_passages=mode).postprocess_nodes(
            nodes, query_str=QUERY
        )
        out[0].node.metadata["nested"]["a"] = "changed"
        out[0].score = -1.0
    assert [n.model_dump() for n in nodes] == before


class _Recorder(BaseEventHandler):
    events: list = []

    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event, **kwargs) -> None:
        self.events.append(event)


def test_fires_rerank_events_and_callbacks(standin_model, nodes):
    recorder = _Recorder(events=[])
    get_dispatcher().add_event_handler(recorder)
    debug = LlamaDebugHandler()
    rerank = LongColBERTRerank(
        model=standin_model, top_n=2, callback_manager=CallbackManager([debug])
    )
    try:
        out = rerank.postprocess_nodes(nodes, query_str=QUERY)
    finally:
        get_dispatcher().event_handlers.remove(recorder)
    names = [e.class_name() for e in recorder.events]
    assert "ReRankStartEvent" in names and "ReRankEndEvent" in names
    start = next(e for e in recorder.events if e.class_name() == "ReRankStartEvent")
    end = next(e for e in recorder.events if e.class_name() == "ReRankEndEvent")
    assert start.top_n == 2 and len(start.nodes) == len(nodes)
    assert [n.node.node_id for n in end.nodes] == [n.node.node_id for n in out]
    pairs = debug.get_event_pairs(CBEventType.RERANKING)
    assert len(pairs) == 1
    assert pairs[0][1].payload["nodes"] == out


async def test_async_matches_sync_without_blocking_the_loop(standin_model, nodes):
    rerank = LongColBERTRerank(model=standin_model, top_n=3, return_passages=True)
    expected = rerank.postprocess_nodes(nodes, query_str=QUERY)
    out, ticks = await run_counting_ticks(rerank.apostprocess_nodes(nodes, query_str=QUERY))
    assert_same_within([(n.node.node_id, n.score) for n in out],
                       [(n.node.node_id, n.score) for n in expected])
    assert ticks >= 3


def test_keeps_five_by_default_as_the_langchain_reranker_does(standin_model):
    many = [NodeWithScore(node=TextNode(text=f"Note {i}: the notice period is {i} weeks."))
            for i in range(8)]
    assert LongColBERTRerank().top_n == 5
    out = LongColBERTRerank(model=standin_model).postprocess_nodes(many, query_str=QUERY)
    assert len(out) == 5
