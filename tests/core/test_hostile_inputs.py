"""Parsers that one bad value used to break: huge or deep filters, deep metadata stored or
at the door, a damaged keyword index, numbers Qdrant cannot match, digits that are not
ASCII, stored exclusion keys of the wrong type, a PDF with characters of no Unicode."""

from __future__ import annotations

import json
import sqlite3
import warnings
from pathlib import Path

import pytest
from pypdf import PageObject, PdfWriter

from longcolbert import DamagedIndexError, Index, InvalidInputError
from longcolbert.cli import main
from longcolbert.filters import MAX_CONDITIONS, MAX_DEPTH
from longcolbert.qdrant.edge_client import EdgeClient
from longcolbert.qdrant.index import QdrantIndex

from corpus import DOCS, META

QUERY = "which planet has rings"


@pytest.fixture
def folder(tmp_path, standin_model) -> Path:
    with Index(tmp_path / "idx", model=standin_model) as index:
        index.add(list(DOCS.values()), ids=list(DOCS), metadatas=[META[i] for i in DOCS])
    return tmp_path / "idx"


def nested(depth: int, inside: object) -> object:
    for _ in range(depth):
        inside = {"$and": [inside]}
    return inside


@pytest.mark.parametrize("where", [
    {"$or": [{"topic": str(i)} for i in range(1000)]},
    {"$and": [{f"field{i}": {"$gte": i}} for i in range(MAX_CONDITIONS + 1)]},
    nested(40, {"topic": "law"}),
    nested(100_000, {"topic": "law"}),
])
def test_filters_past_the_limits_are_one_line_on_both_backends(folder, standin_model, tmp_path,
                                                               where):
    with Index(folder, model=standin_model, create=False) as index:
        with pytest.raises(InvalidInputError, match="a filter"):
            index.search(QUERY, filter=where)
    qdrant = QdrantIndex(EdgeClient(tmp_path / "edge"), "docs", model=standin_model)
    with pytest.raises(InvalidInputError, match="a filter"):
        qdrant.search(QUERY, filter=where)
    qdrant.close()


def test_filters_within_the_limits_work(folder, standin_model):
    with Index(folder, model=standin_model, create=False) as index:
        wide = {"$or": [{"topic": t} for t in ["law", "science"] + [str(i) for i in range(200)]]}
        assert {h.id for h in index.search(QUERY, k=5, filter=wide)} == {"contract", "astronomy"}
        deep = nested(MAX_DEPTH, {"topic": "science"})
        assert [h.id for h in index.search(QUERY, k=5, filter=deep)] == ["astronomy"]


def test_a_cli_filter_nested_beyond_reason_is_one_line(folder, standin_path, capsys):
    code = main(["search", str(folder), QUERY, "--model", standin_path,
                 "--filter", "topic=" + "[" * 100_000 + "]" * 100_000])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1


def test_metadata_too_deep_is_refused_at_the_door(folder, standin_model):
    deep: object = "x"
    for _ in range(400):
        deep = [deep]
    with Index(folder, model=standin_model, create=False) as index:
        with pytest.raises(InvalidInputError, match="nested more than"):
            index.add(["A page about comets."], ids=["deep"], metadatas=[{"tags": deep}])
        assert len(index) == len(DOCS)


def test_a_stored_row_nested_beyond_reason_does_not_break_searches(folder, standin_model):
    connection = sqlite3.connect(folder / "store.sqlite")
    connection.execute("UPDATE documents SET metadata = ? WHERE id = 'astronomy'",
                       ("[" * 100_000 + "]" * 100_000,))
    connection.commit()
    connection.close()
    with Index(folder, model=standin_model, create=False) as index:
        hits = index.search(QUERY, k=5)
        assert "astronomy" in [h.id for h in hits]
        assert [h.id for h in index.search(QUERY, k=5, filter={"topic": "law"})] == ["contract"]


def test_a_damaged_keyword_index_is_one_line_that_names_it(folder, standin_path, capsys):
    connection = sqlite3.connect(folder / "store.sqlite")
    connection.execute("UPDATE units_fts_data SET block = randomblob(64) WHERE id > 1")
    connection.commit()
    connection.close()
    with Index(folder, model=standin_path, create=False) as index:
        with pytest.raises(DamagedIndexError, match="keyword index"):
            index.search("planet rings tomatoes", k=2)
        assert index.search("planet rings tomatoes", k=2, hybrid=False)  # the way around it
    code = main(["search", str(folder), "planet rings tomatoes", "--model", standin_path])
    err = capsys.readouterr().err
    assert code == 1 and "keyword index" in err and "disk space" not in err and err.count("\n") == 1


def test_qdrant_matches_floats_and_refuses_what_it_cannot_hold(standin_model, tmp_path):
    qdrant = QdrantIndex(EdgeClient(tmp_path / "edge"), "docs", model=standin_model)
    qdrant.add(list(DOCS.values()), ids=list(DOCS), metadatas=[META[i] for i in DOCS])
    as_int = [h.id for h in qdrant.search(QUERY, k=5, filter={"year": 2021})]
    assert sorted(as_int) == ["astronomy", "contract"]
    assert [h.id for h in qdrant.search(QUERY, k=5, filter={"year": 2021.0})] == as_int
    assert [h.id for h in qdrant.search(QUERY, k=5, filter={"year": {"$in": [2021.0]}})] == as_int
    assert qdrant.search(QUERY, k=5, filter={"year": 2021.5}) == []
    assert qdrant.search(QUERY, k=5, filter={"year": 2 ** 70}) == []
    with pytest.raises(InvalidInputError):
        qdrant.search(QUERY, k=5, filter={"year": {"$gte": 10 ** 400}})
    with pytest.raises(InvalidInputError, match="k must be"):
        qdrant.search(QUERY, k=-1)
    qdrant.close()


def test_a_generation_in_other_digits_is_damage_not_a_crash(folder, standin_model):
    connection = sqlite3.connect(folder / "store.sqlite")
    connection.execute("UPDATE meta SET value = '\u00b2' WHERE key = 'generation'")
    connection.commit()
    connection.close()
    with pytest.raises(DamagedIndexError, match="generation"):
        Index(folder, model=standin_model, create=False)


def test_one_pdf_with_characters_of_no_unicode_is_repaired_and_the_others_land(
        tmp_path, standin_path, monkeypatch, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text(DOCS["astronomy"])
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    with open(docs / "bad.pdf", "wb") as handle:
        writer.write(handle)
    broken = "Notice period \ud835 three months."  # a lone surrogate, as a bad ToUnicode map gives
    monkeypatch.setattr(PageObject, "extract_text", lambda self, *a, **k: broken)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["index", str(tmp_path / "idx"), str(docs), "--model", standin_path])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "bad.pdf: 1 characters" in err and "indexed 2 documents" in out
    with Index(tmp_path / "idx", model=standin_path, create=False) as index:
        text = index.get("bad.pdf").text
        assert text == broken.replace("\ud835", "\ufffd") and len(text) == len(broken)
        assert index.get("good.txt").text == DOCS["astronomy"]


def test_one_document_the_door_refuses_never_stops_the_others(tmp_path, standin_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text(DOCS["garden"])
    (docs / "blank.md").write_text("   \n")
    code = main(["index", str(tmp_path / "idx"), str(docs), "--model", standin_path])
    out, err = capsys.readouterr()
    assert "indexed 1 documents" in out
    with Index(tmp_path / "idx", model=standin_path, create=False) as index:
        assert index.ids() == ["good.txt"]
    assert json.dumps(code) in ("0", "1")
