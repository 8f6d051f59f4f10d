"""Hybrid search and clean text: FTS5 kept with the store, rare words weigh more, highlights say how they matched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from longcolbert import Index, Reranker
from longcolbert.documents.loaders import load_paths
from longcolbert.ranking.rank import lexical_evidence

from numerics import assert_same_within

BTXDOC = Path("/usr/share/doc/texlive-doc/bibtex/base/btxdoc.pdf")

DOCS = {
    "contract": "Employment contract. Either party may terminate this agreement. "
    "The notice period for termination is three months, given in writing.",
    "recipe": "Bake the bread at 220 degrees for forty minutes. Let the dough rise overnight.",
    "astronomy": "Jupiter is the largest planet of the solar system. It has many moons.",
    "pdfish": "The field is an abbrevia-\ntion of the journal name. Use misc when nothing else ﬁts.",
}


@pytest.fixture()
def index(tmp_path, standin_model):
    with Index(tmp_path / "idx", model=standin_model) as index:
        index.add(list(DOCS.values()), ids=list(DOCS))
        yield index


def marked(index: Index, query: str, doc_id: str) -> dict[str, str]:
    """The highlighted words of ``doc_id``'s first passage and how each matched."""
    hit = next(h for h in index.search(query, k=len(DOCS), passages=1) if h.id == doc_id)
    text = index.get(doc_id).text
    return {text[h.start : h.end]: h.kind for h in hit.passages[0].highlights}


def test_ligatures_and_line_break_hyphens_match_plain_words(index):
    words = marked(index, "abbreviation fits", "pdfish")
    assert words.get("abbrevia-\ntion") in ("lexical", "both")
    assert words.get("ﬁts") in ("lexical", "both")


@pytest.mark.skipif(not BTXDOC.exists(), reason="texlive-base's btxdoc.pdf is not installed")
def test_a_plain_query_finds_the_ligature_sentence_of_a_real_pdf(tmp_path, standin_model):
    documents, problems = load_paths([BTXDOC])
    assert not problems and "nothing else ﬁts" in documents[0].text
    with Index(tmp_path / "btx", model=standin_model) as index:
        index.add_documents(documents)
        hit = index.search("which entry type do I use when nothing else fits", k=1, passages=3)[0]
        text = index.get(hit.id).text
        passage = next(p for p in hit.passages if "nothing else ﬁts" in p.text)
        assert "ﬁts" in {text[h.start : h.end] for h in passage.highlights}


def test_highlights_say_which_words_matched_lexically(index, standin_model):
    words = marked(index, "how long is the notice period for termination", "contract")
    assert {"notice", "period"} <= set(words)
    assert set(words.values()) <= {"semantic", "lexical", "both"}
    assert "both" in words.values() or "lexical" in words.values()
    index.hybrid = False
    assert set(marked(index, "how long is the notice period for termination", "contract").values()) == {
        "semantic"
    }


def test_rare_query_words_weigh_more_than_common_ones(index):
    query = index.encoder.encode_query("the abbreviation of the journal")
    lexical = lexical_evidence(index.store, query)
    assert lexical is not None and lexical.weights.mean() == pytest.approx(1.0, abs=1e-5)
    by_word = {query.text[s:e]: w for (s, e), w in zip(query.spans.tolist(), lexical.weights)}
    assert by_word["abbreviation"] > by_word["the"]
    assert "journal" in lexical.terms and "the" not in lexical.terms  # "the": half the units


def test_the_lexical_index_follows_adds_upserts_and_deletes(index):
    counts = index.store.term_document_counts
    assert counts(["jupit", "bread"]) == {"jupit": 1, "bread": 1}
    index.add(["Bread and more bread."], ids=["recipe"])  # upsert: the old recipe's units go
    assert counts(["bread", "dough"]) == {"bread": 1}
    index.delete(["astronomy"])
    assert counts(["jupit"]) == {}
    assert index.store.unit_count() == sum(len(index.get(i).units) for i in index.ids())


def test_keyword_candidates_join_the_plaid_candidates(index):
    position = index.store.plaid_ids(["astronomy"])["astronomy"]
    assert index.store.keyword_candidates(["Jupiter"], 5) == [position]
    query = index.encoder.encode_query("bread dough")
    found = index.plaid.search(query.embeddings, 1, also=[position])
    assert position in found.positions and len(found.positions) == 2


@pytest.mark.numerics
def test_a_store_from_before_hybrid_search_gets_its_lexical_index(tmp_path, standin_model):
    folder = tmp_path / "old"
    with Index(folder, model=standin_model) as index:
        index.add(list(DOCS.values()), ids=list(DOCS))
        before = [(h.id, h.score) for h in index.search("solar system planet")]
    connection = sqlite3.connect(folder / "store.sqlite")  # what longcolbert 0.1 left behind
    connection.execute("DROP TABLE units_fts")
    connection.execute("DELETE FROM meta WHERE key = 'lexical'")
    connection.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()
    with Index(folder, model=standin_model, create=False) as index:
        assert index.store.term_document_counts(["jupit"]) == {"jupit": 1}
        assert_same_within([(h.id, h.score) for h in index.search("solar system planet")], before)


def test_reranker_weighs_and_marks_words_from_the_texts_themselves(standin_path):
    texts = list(DOCS.values())
    hybrid = Reranker(standin_path).rerank("notice period for termination", texts, top_n=1)
    semantic = Reranker(standin_path, hybrid=False).rerank(
        "notice period for termination", texts, top_n=1)
    assert hybrid[0].id == semantic[0].id == "0"
    assert {h.kind for h in hybrid[0].passages[0].highlights} & {"lexical", "both"}
    assert {h.kind for h in semantic[0].passages[0].highlights} == {"semantic"}
    assert not np.isclose(hybrid[0].score, semantic[0].score)



def test_a_reranker_counts_rarity_as_an_fts5_table_of_the_same_texts_does():
    from longcolbert.plaid.store import Store
    from longcolbert.ranking.lexical import CountedTerms, shared_words
    from longcolbert.ranking.passages import sentence_unit_array
    from longcolbert.results import StoredDocument

    from corpus import DOCS

    texts = [*DOCS.values(), "Ligatures: the ﬁrst ﬂow. Hyphen-\nated words and UPPER case.",
             "Über naïve café; 3.8 and 2,000 numbers."]
    documents = [StoredDocument(str(i), text, {}, [], np.zeros((0, 2), dtype=np.int64),
                                sentence_unit_array(text))
                 for i, text in enumerate(texts)]
    store = Store(":memory:")
    with store.transaction():
        store.stage(documents)
        store.insert_staged(first_plaid_id=0)
    counted = CountedTerms([Reranker("unused")._unit_terms(d) for d in documents])
    terms = sorted({t for words in shared_words().terms_of_many(texts) for t in words})
    assert len(terms) > 50
    assert counted.unit_count() == store.unit_count()
    assert counted.term_document_counts(terms) == store.term_document_counts(terms)
