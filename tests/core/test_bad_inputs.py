"""Bad arguments are one-line InvalidInputErrors with the remedy; nothing stored is lost."""

from __future__ import annotations

import json

import pytest

from longcolbert import Index, InvalidInputError, Reranker
from longcolbert.cli import main

from corpus import DOCS, META


@pytest.fixture(scope="module")
def index(tmp_path_factory, standin_model):
    path = tmp_path_factory.mktemp("bad-inputs") / "idx"
    index = Index(path, model=standin_model)
    index.add(list(DOCS.values()), ids=list(DOCS), metadatas=[META[i] for i in DOCS])
    return index


def one_line(call, match):
    with pytest.raises(InvalidInputError, match=match) as caught:
        call()
    assert "\n" not in str(caught.value)


def test_bad_search_arguments(index, standin_model):
    one_line(lambda: index.search("planet", k=2.5), "k must be a whole number")
    one_line(lambda: index.search("planet", k="3"), "k must be a whole number")
    one_line(lambda: index.search("planet", k=True), "k must be a whole number")
    one_line(lambda: index.search("planet", passages=-1), "passages must be")
    one_line(lambda: index.search("planet", filter=["topic", "law"]), "a filter is a dict")
    one_line(lambda: index.search("planet", filter={"year": float("nan")}), "finite number")
    one_line(lambda: index.search("planet", filter={"topic": {"a": 1}}), "unknown filter operator")
    one_line(lambda: index.search("planet", filter={"topic": {"$in": "law"}}), "takes a list")
    one_line(lambda: index.search("planet", filter={"year": {"$gt": None}}), "compares with")
    one_line(lambda: index.search("planet", filter={"$or": {}}), "non-empty list")
    one_line(lambda: index.search("planet", filter={"topic": [["law"]]}), "not a string")
    one_line(lambda: index.search(42), "not text")
    one_line(lambda: index.search("   "), "the query is empty")
    one_line(lambda: index.search_passages("planet", per_document=0), "per_document")
    one_line(lambda: Index(index.path, model=standin_model, document_score="max_sim"),
             "document_score must be one of")
    assert sorted(index.ids()) == sorted(DOCS)


def test_a_filter_with_thousands_of_values_works(index):
    years = list(range(5000)) + ["2021"]
    hits = index.search("planet", k=5, filter={"year": years, "topic": ["science"] * 3000})
    assert [h.id for h in hits] == ["astronomy"]
    hits = index.search("planet", k=5, filter={"year": [2020, True, None, 2.0e9]})
    assert {h.id for h in hits} == {"recipe", "garden"}


def test_bad_reranker_inputs(standin_model):
    reranker = Reranker(standin_model)
    texts = ["Jupiter is a planet.", "Bread is baked."]
    one_line(lambda: reranker.rerank("planet", texts, ids=["only-one"]), "one of each per text")
    one_line(lambda: reranker.rerank("planet", texts, metadatas=[{}]), "one of each per text")
    one_line(lambda: reranker.rerank("planet", texts, top_n=-1), "top_n must be")
    one_line(lambda: reranker.rerank("planet", ["fine", ""]), "position 1 is empty")
    # a misspelt choice is refused by both, not silently read as the default
    one_line(lambda: Reranker(standin_model, document_score="max_sim"),
             "document_score must be one of 'passage', 'maxsim'")
    one_line(lambda: reranker.rerank("planet", ["fine", None]), "position 1")
    one_line(lambda: reranker.rerank("planet", texts, metadatas=[{}, {"x": float("inf")}]),
             "NaN or infinite")
    assert reranker.rerank("planet", texts, top_n=0) == []
    assert [h.id for h in reranker.rerank("planet", texts, top_n=1)] == ["0"]


def test_cli_bad_arguments_are_one_line(index, capsys, standin_path):
    code = main(["search", str(index.path), "planet", "--passages", "-2", "--model", standin_path])
    _, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "passages must be" in err
    code = main(["search", str(index.path), "planet", "--filter", "year", "--model", standin_path])
    _, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "KEY=VALUE" in err


def test_the_reranker_progress_bar_can_be_turned_on_and_off(standin_model, capsys):
    reranker = Reranker(standin_model)
    reranker.rerank("planet", ["Jupiter is a planet."], show_progress=True)
    assert "Encoding" in capsys.readouterr().err
    reranker.rerank("planet", ["Jupiter is a planet."], show_progress=False)
    assert "Encoding" not in capsys.readouterr().err


@pytest.fixture(scope="module")
def tagged(tmp_path_factory, standin_model):
    index = Index(tmp_path_factory.mktemp("filters") / "idx", model=standin_model)
    metadatas = [{**META[i], "tags": tags} for i, tags in zip(
        DOCS, [["legal", "hr"], ["kitchen"], ["space", "legal"], ["code"], []])]
    metadatas[4].pop("year")  # garden has no year
    index.add(list(DOCS.values()), ids=list(DOCS), metadatas=metadatas)
    return index


def found(index, filter) -> list[str]:
    return sorted(h.id for h in index.search("anything at all", k=10, filter=filter))


@pytest.mark.parametrize("filter, expected", [
    ({"topic": {"$eq": "law"}}, ["contract"]),
    ({"topic": {"$ne": "law"}}, ["astronomy", "garden", "python", "recipe"]),
    ({"year": {"$ne": 2021}}, ["garden", "python", "recipe"]),  # no year: not 2021
    ({"topic": {"$in": ["law", "food"]}}, ["contract", "recipe"]),
    ({"topic": {"$nin": ["law", "food"]}}, ["astronomy", "garden", "python"]),
    ({"year": {"$gt": 2020}}, ["astronomy", "contract", "python"]),
    ({"year": {"$gte": 2021, "$lt": 2023}}, ["astronomy", "contract"]),
    ({"year": {"$lte": 2020}}, ["recipe"]),
    ({"topic": {"$lt": "m"}}, ["contract", "garden", "recipe"]),  # law, home, food < "m"
    ({"tags": {"$contains": "legal"}}, ["astronomy", "contract"]),
    ({"tags": "legal"}, []),  # equality never matches inside a list
    ({"$or": [{"topic": "law"}, {"tags": {"$contains": "code"}}]}, ["contract", "python"]),
    ({"$and": [{"year": {"$gte": 2020}}, {"$or": [{"topic": "food"}, {"topic": "law"}]}]},
     ["contract", "recipe"]),
    ({"year": None}, ["garden"]),
])
def test_filter_operators_select_inside_the_search(tagged, filter, expected):
    assert found(tagged, filter) == sorted(expected)


def test_cli_filters_take_operators(tagged, capsys, standin_path):
    def ids(*filters):
        args = ["search", str(tagged.path), "anything", "--json", "-k", "10", "--model",
                standin_path]
        for f in filters:
            args += ["--filter", f]
        assert main(args) == 0
        return sorted(r["id"] for r in json.loads(capsys.readouterr()[0])["results"])

    assert ids("year>=2021", "topic!=software") == ["astronomy", "contract"]
    assert ids("tags~legal") == ["astronomy", "contract"]
    assert ids("topic=law", "topic=food") == ["contract", "recipe"]
    assert ids("year<2021", "year>2019") == ["recipe"]
