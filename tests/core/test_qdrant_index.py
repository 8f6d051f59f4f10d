"""The Qdrant backend (real Qdrant code in process: qdrant-client's in-memory engine, and
Qdrant Edge in a folder) gives the embedded index's results, keeps documents whole
across points, and never shows half of one."""

from __future__ import annotations

import pytest
import torch
from qdrant_client import QdrantClient, models

from longcolbert import IncompatibleModelError, Index, InvalidInputError
from longcolbert.plaid.codec import centroid_count
from longcolbert.qdrant import index as qdrant_index
from longcolbert.qdrant.centroid_codes import (
    nearest_means,
    planned_rows,
    query_codes,
)
from longcolbert.qdrant.edge_client import EdgeClient
from longcolbert.qdrant.index import QdrantIndex
from longcolbert.qdrant.token_bytes import decode_rows
from longcolbert.ranking.lexical import shared_words

from corpus import DOCS, META

QUERIES = ["notice period for termination", "largest planet", "bake bread dough",
           "water the tomatoes", "python list comprehension"]
FILTERS = [{"topic": "science"}, {"topic": ["law", "food"]}, {"year": {"$gte": 2021}},
           {"topic": {"$ne": "law"}}, {"topic": {"$nin": ["law", "science"]}},
           {"$or": [{"topic": "law"}, {"year": {"$lt": 2020}}]},
           {"$and": [{"year": {"$gt": 2019}}, {"topic": {"$in": ["law", "code"]}}]}]


@pytest.fixture(params=["in-memory", "edge-folder"])
def qdrant(request, standin_model, tmp_path):
    """The backend on qdrant-client's in-memory engine, and on a Qdrant Edge folder."""
    location = ":memory:" if request.param == "in-memory" else EdgeClient(tmp_path / "edge")
    index = QdrantIndex(location, "docs", model=standin_model, segment_tokens=16)
    index.codebook.train_rows = 1  # a first stage even for these few rows
    index.add(list(DOCS.values()), ids=list(DOCS), metadatas=[META[i] for i in DOCS])
    yield index
    index.close()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, standin_model):
    index = Index(tmp_path_factory.mktemp("q") / "idx", model=standin_model)
    index.add(list(DOCS.values()), ids=list(DOCS), metadatas=[META[i] for i in DOCS])
    return index


@pytest.mark.parametrize("hybrid", [True, False], ids=["hybrid", "maxsim-alone"])
def test_the_same_ranking_passages_and_highlights_as_the_embedded_index(
        qdrant, embedded, standin_model, hybrid):
    qdrant.hybrid = hybrid
    with Index(embedded.path, model=standin_model, create=False, hybrid=hybrid) as reference:
        for query in QUERIES + ["Jupiter's moons", "getcwd"]:
            ours, theirs = qdrant.search(query, k=3), reference.search(query, k=3)
            assert [h.id for h in ours] == [h.id for h in theirs], query
            for a, b in zip(ours, theirs):
                # Qdrant keeps uint8 rows, the embedded index 4-bit residuals: near, not equal
                assert a.score == pytest.approx(b.score, abs=0.1)
                assert [(p.start, p.end) for p in a.passages] == [(p.start, p.end)
                                                                  for p in b.passages]
                marks = {(h.start, h.end, h.kind) for h in a.passages[0].highlights}
                assert marks and len(marks & {(h.start, h.end, h.kind)
                                              for h in b.passages[0].highlights}) >= len(marks) - 1
            if hybrid and query == "getcwd":  # the word itself is marked as a lexical match
                assert ours[0].id == "python" and any(
                    h.kind in ("lexical", "both") and DOCS["python"][h.start:h.end] == "getcwd"
                    for h in ours[0].passages[0].highlights)


def test_candidates_are_as_many_as_asked_whatever_the_first_stage_reads_back(
        qdrant, monkeypatch):
    """Format 6 reads back more documents than asked for (chosen by their sketches)
    and ranks only the best by exact MaxSim: ``candidates`` means what it means in
    the embedded index."""
    ranked: list[list[str]] = []
    rank = qdrant_index.rank_documents
    monkeypatch.setattr(qdrant_index, "rank_documents", lambda documents, *a, **kw: (
        ranked.append([d.id for d in documents]) or rank(documents, *a, **kw)))
    for query in QUERIES:
        rows = qdrant._model.encoder.encode_query(query).embeddings.float()
        exact = {doc.id: float((rows @ vectors.T).max(dim=1).values.sum())
                 for doc, vectors in qdrant.stored_rows(list(DOCS)).values()}
        best = sorted(exact, key=exact.get, reverse=True)
        for depth in (1, 2):  # k and candidates: a search ranks max(k, candidates)
            read_back = qdrant.candidate_ids(rows, depth)
            assert len(read_back) > depth  # more are read back than ranked
            qdrant.search(query, k=depth, candidates=depth, hybrid=False)
            assert sorted(ranked[-1]) == sorted(best[:depth]), (query, depth)


def test_word_rarity_is_counted_as_the_embedded_index_counts_it(qdrant, embedded):
    terms = sorted({t for words in shared_words().terms_of_many(list(DOCS.values()))
                    for t in words} | {"absent"})
    assert qdrant.unit_count() == embedded.store.unit_count() > len(DOCS)
    assert qdrant.term_document_counts(terms) == embedded.store.term_document_counts(terms)
    qdrant.add(["Bread. More bread. Bread again, with dough."], ids=["bakery"])
    assert qdrant.term_document_counts(["bread", "dough"]) == {"bread": 4, "dough": 2}
    qdrant.delete(["bakery", "recipe"])
    assert qdrant.term_document_counts(["bread", "dough"]) == {}
    assert qdrant.unit_count() == embedded.store.unit_count() - len(embedded.get("recipe").units)


def test_keyword_candidates_are_the_documents_of_the_best_bm25_units(qdrant):
    assert qdrant.keyword_candidates(["Jupiter"], 5) == ["astronomy"]
    assert sorted(qdrant.keyword_candidates(["Jupiter", "dough", "nowhere"], 5)) == [
        "astronomy", "recipe"]
    assert qdrant.keyword_candidates(["tomatoes", "roses", "dough"], 1) == ["garden"]
    assert qdrant.keyword_candidates(["nowhere"], 5) == []


def test_documents_are_whole_across_many_points(qdrant):
    assert len(qdrant) == len(DOCS) and sorted(qdrant.ids()) == sorted(DOCS)
    assert qdrant.client.count("docs", exact=True).count > len(DOCS)
    long_text = "\n\n".join(f"Paragraph {i}. Comets have tails of dust and gas." for i in range(30))
    before = qdrant.client.count("docs", exact=True).count
    qdrant.add([long_text], ids=["comets"], metadatas=[{"topic": "science"}])
    assert qdrant.client.count("docs", exact=True).count - before >= 10  # 16-token segments
    assert qdrant.get("comets").text == long_text
    hit = qdrant.search("tails of dust and gas", k=1, passages=3)[0]
    assert hit.id == "comets" and hit.passages
    for passage in hit.passages:
        assert long_text[passage.start:passage.end] == passage.text
    qdrant.delete(["comets"])
    for doc_id, text in DOCS.items():
        stored = qdrant.get(doc_id)
        assert stored.text == text and stored.metadata == META[doc_id]
    for hit in qdrant.search("notice period for termination", k=5, passages=2):
        for passage in hit.passages:
            assert DOCS[hit.id][passage.start:passage.end] == passage.text


@pytest.mark.parametrize("where", FILTERS, ids=[str(f) for f in FILTERS])
def test_filters_select_what_the_embedded_index_selects(qdrant, embedded, where):
    assert sorted(h.id for h in qdrant.search("planet", k=10, filter=where)) == sorted(
        h.id for h in embedded.search("planet", k=10, filter=where))


def test_upsert_and_delete(qdrant):
    qdrant.add(["Saturn has rings of ice and rock."], ids=["astronomy"], metadatas=[{"topic": "x"}])
    assert len(qdrant) == len(DOCS)
    assert qdrant.get("astronomy").text == "Saturn has rings of ice and rock."
    assert qdrant.search("rings of ice", k=1)[0].id == "astronomy"
    qdrant.delete(["astronomy", "recipe"])
    assert sorted(qdrant.ids()) == sorted(set(DOCS) - {"astronomy", "recipe"})
    with pytest.raises(InvalidInputError, match="no document with id 'nope'"):
        qdrant.delete(["nope"])


def test_an_interrupted_add_shows_nothing_and_the_next_add_cleans_up(qdrant):
    real_upsert = qdrant.client.upsert

    def half_then_crash(collection, points, **kwargs):
        if len(points) < 2:  # the codebook's head: written before the document
            return real_upsert(collection, points=points, **kwargs)
        real_upsert(collection, points=points[: len(points) // 2], **kwargs)
        raise ConnectionError("server went away")

    qdrant.client.upsert = half_then_crash
    long_text = " ".join(f"Sentence {i} tells of comets and their tails." for i in range(40))
    with pytest.raises(ConnectionError):
        qdrant.add([long_text], ids=["comets"])
    qdrant.client.upsert = real_upsert
    assert "comets" not in qdrant.ids()
    assert "comets" not in [h.id for h in qdrant.search("comets and their tails", k=10)]
    qdrant.add([long_text], ids=["comets"])
    assert qdrant.search("comets and their tails", k=1)[0].id == "comets"
    segments = qdrant.get("comets")
    assert segments.text == long_text
    points, _ = qdrant.client.scroll("docs", limit=10_000, with_payload=["kind", "visible"])
    documents = [p for p in points if p.payload["kind"] in ("segment", "body", "unit")]
    assert documents and all(p.payload["visible"] == 1 for p in documents)  # none left invisible


def test_a_collection_made_by_another_model_is_refused(standin_model, tiny_model):
    client = QdrantClient(location=":memory:")
    QdrantIndex(client, "docs", model=standin_model).add(["Some text."], ids=["a"])
    with pytest.raises(IncompatibleModelError, match="was made with model"):
        QdrantIndex(client, "docs", model=tiny_model).search("text")


def test_tokens_are_kept_in_one_byte_and_older_collections_are_refused(
        qdrant, standin_model):
    segment = models.Filter(must=[models.FieldCondition(key="kind",
                                                        match=models.MatchValue(value="segment"))])
    point = qdrant.client.scroll("docs", scroll_filter=segment, limit=1, with_vectors=["tokens"])[0][0]
    values = [v for row in point.vector["tokens"] for v in row]
    assert all(float(v).is_integer() and 0 <= v <= 255 for v in values)
    client = QdrantClient(location=":memory:")
    QdrantIndex(client, "old", model=standin_model).add(["Some text."], ids=["a"])
    metadata = client.get_collection("old").config.metadata
    client.update_collection("old", metadata={**metadata, "longcolbert_format": None})
    with pytest.raises(IncompatibleModelError, match="format before 3.*index the documents again"):
        QdrantIndex(client, "old", model=standin_model).search("text")


@pytest.mark.parametrize("engine", ["in-memory", "edge-folder"])
def test_qdrants_own_maxsim_orders_documents_as_exact_maxsim_does(engine, standin_model, tmp_path):
    location = ":memory:" if engine == "in-memory" else EdgeClient(tmp_path / "edge")
    index = QdrantIndex(location, "docs", model=standin_model)  # one point per document
    index.add(list(DOCS.values()), ids=list(DOCS))
    for query in QUERIES:
        rows = index._model.encoder.encode_query(query).embeddings
        ranked = index.candidate_ids(rows, len(DOCS))  # Qdrant's MaxSim on the stored bytes
        exact = {doc.id: float((rows @ vectors.T).max(dim=1).values.sum())
                 for doc, vectors in index.stored_rows(ranked).values()}
        assert sorted(ranked) == sorted(DOCS)
        for better, worse in zip(ranked, ranked[1:]):  # in order, or a near tie
            assert exact[better] >= exact[worse] - 0.05, (query, better, worse)
    index.close()


def test_the_first_stage_prefetches_only_segments_sharing_a_centroid_with_the_query(
        qdrant, monkeypatch):
    centroids = qdrant.codebook.centroids()
    tokens = qdrant.info()["tokens"]  # sized for twice the rows (k-means: at most one a row)
    assert centroids is not None and centroids.shape[0] == min(
        centroid_count(planned_rows(tokens)), tokens)
    segments, _ = qdrant.client.scroll("docs", scroll_filter=_kind_filter("segment"),
                                       limit=10_000, with_payload=["doc_id"],
                                       with_vectors=["tokens", "codes", "sketch"])
    codes_of: dict[str, set[int]] = {}
    for point in segments:  # each segment holds the codes and the sketch of its own rows
        assert_first_stage_vectors(point, centroids)
        codes_of.setdefault(point.payload["doc_id"], set()).update(point.vector["codes"].indices)
    if isinstance(qdrant.client, EdgeClient):  # the in-memory engine skips a grouped prefetch
        for query in QUERIES:
            rows = qdrant._model.encoder.encode_query(query).embeddings
            asked = set(query_codes(rows, centroids))
            sharing = {d for d in DOCS if codes_of[d] & asked}
            assert sharing and set(qdrant.candidate_ids(rows, len(sharing))) == sharing, query
            # asked for more than share a centroid: the others are scored too, after them
            found = qdrant.candidate_ids(rows, len(DOCS))
            assert set(found[:len(sharing)]) == sharing and sorted(found) == sorted(DOCS)
        # a first stage that fills its prefetch is not followed by a scan, even where its
        # segments belong to fewer documents than asked for
        monkeypatch.setattr(qdrant_index, "PREFETCH", 2)
        for query in QUERIES:
            rows = qdrant._model.encoder.encode_query(query).embeddings
            assert 1 <= len(qdrant.candidate_ids(rows, len(DOCS))) <= 2, query


@pytest.mark.parametrize("engine", ["in-memory", "edge-folder"])
def test_the_codebook_is_trained_again_as_the_collection_grows(engine, standin_model, tmp_path):
    location = ":memory:" if engine == "in-memory" else EdgeClient(tmp_path / "edge")
    index = QdrantIndex(location, "docs", model=standin_model, segment_tokens=16)
    index.codebook.train_rows = 8
    ids = sorted(DOCS, key=lambda i: len(DOCS[i]))  # the shortest first
    index.add([DOCS[ids[0]]], ids=[ids[0]])
    first = index.codebook.head()
    assert first["version"] is not None and first["trained_rows"] >= 8
    index.add([DOCS[i] for i in ids[1:]], ids=ids[1:])  # well over 4x the rows
    grown = index.codebook.head()
    assert grown["version"] != first["version"]
    assert grown["trained_rows"] == grown["written_rows"] > 4 * first["trained_rows"]
    parts, _ = index.client.scroll("docs", scroll_filter=_kind_filter("centroids"), limit=100,
                                   with_payload=["version"])
    assert {p.payload["version"] for p in parts} == {grown["version"]}  # old parts gone
    # a second client reads the same codebook from the collection, and every segment,
    # the first document's too, is coded with it
    other = QdrantIndex(index.client, "docs", model=standin_model)
    centroids = other.codebook.centroids()
    assert torch.allclose(centroids, index.codebook.centroids())
    segments, _ = index.client.scroll("docs", scroll_filter=_kind_filter("segment"),
                                      limit=10_000, with_vectors=["tokens", "codes", "sketch"])
    for point in segments:
        assert_first_stage_vectors(point, centroids)
    assert other.search("largest planet", k=1)[0].id == "astronomy"
    index.close()


def assert_first_stage_vectors(point: models.Record, centroids: torch.Tensor) -> None:
    """A segment point's codes are the centroids nearest its rows, and its sketch their
    rows' means, each within what a byte per coordinate keeps."""
    rows = decode_rows(point.vector["tokens"])
    codes, means = nearest_means(rows, centroids)
    assert list(point.vector["codes"].indices) == codes
    sketch = decode_rows(point.vector["sketch"])
    assert sketch.shape == means.shape and float((sketch - means).abs().max()) < 0.05


def _kind_filter(kind: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="kind", match=models.MatchValue(value=kind))])



@pytest.mark.parametrize("engine", ["in-memory", "edge-folder"])
def test_a_codebook_whose_parts_are_gone_is_trained_again_by_the_next_add(
        engine, standin_model, tmp_path):
    location = ":memory:" if engine == "in-memory" else EdgeClient(tmp_path / "edge")
    index = QdrantIndex(location, "docs", model=standin_model, segment_tokens=16)
    index.codebook.train_rows = 1
    index.add([DOCS["garden"]], ids=["garden"])
    lost = index.codebook.head()["version"]
    index.client.delete("docs", points_selector=models.FilterSelector(
        filter=_kind_filter("centroids")))  # as when two writers delete each other's parts
    reader = QdrantIndex(index.client, "docs", model=standin_model)
    assert reader.codebook.centroids() is None  # every segment is scored meanwhile
    assert reader.search("water the tomatoes", k=1)[0].id == "garden"
    index.add([DOCS["astronomy"]], ids=["astronomy"])
    assert index.codebook.head()["version"] not in (None, lost)
    assert reader.codebook.centroids() is not None
    assert reader.search("largest planet", k=1)[0].id == "astronomy"
    index.close()


def test_a_format_4_collection_is_still_searched_and_deleted_from_but_not_added_to(
        standin_model):
    """Format 4 kept text, offsets (a list of numbers) and token bytes in the segment
    points themselves, with no body points and no stored sentence units."""
    from longcolbert.qdrant.payload_text import int32_from_text

    client = QdrantClient(location=":memory:")
    current = QdrantIndex(client, "docs", model=standin_model, segment_tokens=16)
    current.add(list(DOCS.values()), ids=list(DOCS), metadatas=[META[i] for i in DOCS])
    expected = {q: current.search(q, k=3, passages=2) for q in QUERIES}
    bodies, _ = client.scroll("docs", scroll_filter=_kind_filter("body"), limit=10_000,
                              with_payload=True)
    assert bodies
    for body in bodies:  # the format 4 layout: everything in the segment point
        payload = {key: value for key, value in body.payload.items()
                   if key not in ("kind", "units")}
        payload["offsets"] = int32_from_text(payload["offsets"]).tolist()
        client.set_payload("docs", payload=payload, points=models.Filter(must=[
            models.FieldCondition(key="kind", match=models.MatchValue(value="segment")),
            models.FieldCondition(key="write", match=models.MatchValue(value=body.payload["write"])),
            models.FieldCondition(key="segment", match=models.MatchValue(value=body.payload["segment"]))]))
    client.delete("docs", points_selector=models.FilterSelector(filter=_kind_filter("body")))
    metadata = client.get_collection("docs").config.metadata
    client.update_collection("docs", metadata={**metadata, "longcolbert_format": 4})

    older = QdrantIndex(client, "docs", model=standin_model)
    assert sorted(older.ids()) == sorted(DOCS) and older.info()["tokens"] == current.info()["tokens"]
    for query, hits in expected.items():
        found = older.search(query, k=3, passages=2)
        assert [h.id for h in found] == [h.id for h in hits], query
        for a, b in zip(found, hits):
            assert [(p.start, p.end) for p in a.passages] == [(p.start, p.end) for p in b.passages]
            assert a.score == pytest.approx(b.score, abs=1e-4)
    with pytest.raises(IncompatibleModelError, match="format 4.*index them again into a new"):
        older.add(["Comets have tails."], ids=["comets"])
    assert "comets" not in older.ids()  # nothing written
    older.delete(["astronomy"])
    assert "astronomy" not in older.ids() and older.search("largest planet", k=1)


def test_a_format_5_collection_is_searched_without_sketches_and_not_added_to(
        standin_model, tmp_path, monkeypatch):
    """Format 5 segments have codes and no sketch: the prefetched ones go straight to
    the full MaxSim, as they did then."""
    import json

    def spied(index: QdrantIndex) -> list[str]:  # the multivectors MaxSim ran on
        used: list[str] = []
        ask = index.client.query_points_groups
        monkeypatch.setattr(index.client, "query_points_groups",
                            lambda *a, **kw: used.append(kw["using"]) or ask(*a, **kw))
        return used

    current = QdrantIndex(EdgeClient(tmp_path / "edge"), "docs", model=standin_model,
                          segment_tokens=16)
    current.codebook.train_rows = 1  # a first stage even for these few rows
    current.add(list(DOCS.values()), ids=list(DOCS))
    used = spied(current)
    expected = {q: [h.id for h in current.search(q, k=3)] for q in QUERIES}
    assert "sketch" in used  # (and "tokens" where the first stage ran dry: few documents)
    current.close()
    marker = tmp_path / "edge" / "qdrant-edge.json"
    stored = json.loads(marker.read_text())
    stored["metadata"]["longcolbert_format"] = 5
    marker.write_text(json.dumps(stored))

    older = QdrantIndex(EdgeClient(tmp_path / "edge"), "docs", model=standin_model)
    used = spied(older)
    assert {q: [h.id for h in older.search(q, k=3)] for q in QUERIES} == expected
    assert used and set(used) == {"tokens"}
    with pytest.raises(IncompatibleModelError, match="format 5.*index them again into a new"):
        older.add(["Comets have tails."], ids=["comets"])
    older.close()


@pytest.mark.parametrize("units", ["not base64!", "AAAAAAA=", 7, "AAAAAP///38="],
                         ids=["garbage", "odd-length", "a-number", "out-of-range"])
def test_unreadable_stored_sentence_units_are_computed_again_from_the_text(
        standin_model, units):
    client = QdrantClient(location=":memory:")
    index = QdrantIndex(client, "docs", model=standin_model)
    index.add(list(DOCS.values()), ids=list(DOCS))
    expected = index.search("notice period for termination", k=2, passages=2)
    client.set_payload("docs", payload={"units": units}, points=_kind_filter("body"))
    found = index.search("notice period for termination", k=2, passages=2)
    assert [(h.id, [(p.start, p.end) for p in h.passages]) for h in found] == [
        (h.id, [(p.start, p.end) for p in h.passages]) for h in expected]
