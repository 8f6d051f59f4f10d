"""Hostile and damaged index folders: nothing executes, each problem is one line naming
the file and the remedy, and one bad row never breaks a search over the others."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from longcolbert import (
    DamagedIndexError,
    Index,
    IndexVersionError,
    LongColBERTError,
    UnsafeIndexError,
    UnsafeModelError,
)
from longcolbert.cli import main
from longcolbert.encoding.model import _config_files, load_model

from corpus import DOCS, META

EVIL_CODE = "import pathlib\npathlib.Path({marker!r}).write_text('ran')\n" \
            "from pylate.models.Dense import Dense as Evil\n"


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def folder(tmp_path, standin_model) -> Path:
    path = tmp_path / "idx"
    with Index(path, model=standin_model) as index:
        index.add(list(DOCS.values()), ids=list(DOCS), metadatas=[META[i] for i in DOCS])
    return path


def plant_model(standin_path: str, where: Path, marker: Path, how: str) -> Path:
    """A copy of the stand-in that would run ``evil.py`` (writing ``marker``) when loaded."""
    shutil.copytree(standin_path, where)
    (where / "evil.py").write_text(EVIL_CODE.format(marker=str(marker)))
    (where / "pylate.py").write_text(EVIL_CODE.format(marker=str(marker)))
    modules = json.loads((where / "modules.json").read_text())
    if how == "module type":
        modules[1]["type"] = "evil.Evil"
    elif how == "two-part pylate type":
        modules[1]["type"] = "pylate.Evil"  # a two-part type is looked up as pylate.py here
    elif how == "activation":
        config = json.loads((where / "1_Dense" / "config.json").read_text())
        config["activation_function"] = "evil.Evil"
        (where / "1_Dense" / "config.json").write_text(json.dumps(config))
    (where / "modules.json").write_text(json.dumps(modules))
    return where


def name_model_in_store(folder: Path, name: str) -> None:
    connection = sqlite3.connect(folder / "store.sqlite")
    (raw,) = connection.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()
    connection.execute("UPDATE meta SET value = ? WHERE key = 'model'",
                       (json.dumps({**json.loads(raw), "name": name}),))
    connection.commit()
    connection.close()


@pytest.mark.parametrize("how", ["module type", "two-part pylate type", "activation"])
def test_a_planted_model_folder_never_runs_its_code(tmp_path, folder, standin_path, capsys, how):
    marker = tmp_path / "ran.txt"
    evil = plant_model(standin_path, tmp_path / "shared" / "model", marker, how)
    name_model_in_store(folder, str(evil))
    # the index names the folder: it is not loaded unless the user names it
    with pytest.raises(UnsafeModelError, match="name the model yourself"):
        Index(folder, create=False).search("planet")
    code, _, err = run_cli(capsys, "search", folder, "planet")
    assert code == 1 and err.count("\n") == 1 and "--model" in err
    code, _, err = run_cli(capsys, "index", folder, tmp_path / "ran.txt")
    assert code == 1
    # the user names it: its own code is still refused before anything is imported
    with pytest.raises(UnsafeModelError, match="trust_remote_code=True"):
        load_model(str(evil))
    code, _, err = run_cli(capsys, "search", folder, "planet", "--model", evil)
    assert code == 1 and err.count("\n") == 1 and "--trust-remote-code" in err
    assert not marker.exists()
    # info and delete never load a model
    code, out, _ = run_cli(capsys, "info", folder, "--json")
    assert code == 0 and json.loads(out)["model"] == str(evil)


def test_a_hub_model_is_checked_from_its_configuration_files(tmp_path, standin_path, folder,
                                                             monkeypatch):
    from huggingface_hub import constants

    marker = tmp_path / "ran.txt"
    cache = tmp_path / "hub"
    repo = cache / "models--stranger--colbert"
    plant_model(standin_path, repo / "snapshots" / ("a" * 40), marker, "module type")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert Path(_config_files("stranger/colbert")) == repo / "snapshots" / ("a" * 40)
    name_model_in_store(folder, "stranger/colbert")  # a hub id from the index is loaded...
    with pytest.raises(UnsafeModelError, match="would run code of its own"):  # ...if safe
        Index(folder, create=False).search("planet")
    assert not marker.exists()


def test_a_local_model_named_by_the_user_loads_and_searches(folder, standin_path):
    with Index(folder, model=standin_path, create=False) as index:
        assert index.search("largest planet", k=1)[0].id == "astronomy"


def _damage(folder: Path, what: str) -> str:
    """Damage one part of ``folder``; returns a word the one-line error must name."""
    plaid = next(p for p in folder.iterdir() if p.name.startswith("plaid-"))
    if what == "pickled array":
        np.save(plaid / "norms.npy", np.array([object()], dtype=object), allow_pickle=True)
        return "norms.npy"
    if what == "truncated array":
        data = (plaid / "residuals.npy").read_bytes()
        (plaid / "residuals.npy").write_bytes(data[: len(data) // 2])
        return "residuals.npy"
    if what == "out-of-range codes":
        codes = np.load(plaid / "codes.npy")
        codes[3] = 60000
        np.save(plaid / "codes.npy", codes)
        return "codes.npy"
    if what == "wrong-shape centroids":
        centroids = np.load(plaid / "centroids.npy")
        np.save(plaid / "centroids.npy", centroids[:, :7])
        return "centroids.npy"
    if what == "negative doclens":
        doclens = np.load(plaid / "doclens.npy")
        doclens[0], doclens[1] = -doclens[0], doclens[1] + 2 * doclens[0]
        np.save(plaid / "doclens.npy", doclens)
        return "doclens.npy"
    if what == "garbage plaid.json":
        (plaid / "plaid.json").write_text("{not json")
        return "plaid.json"
    if what == "garbage codec.json":
        (plaid / "codec.json").write_text('{"nbits": "four"}')
        return "codec.json"
    if what == "missing generation folder":
        shutil.rmtree(plaid)
        return plaid.name
    if what == "fewer documents than the store":
        doclens = np.load(plaid / "doclens.npy")
        codes = np.load(plaid / "codes.npy")
        np.save(plaid / "doclens.npy", doclens[:-1])
        np.save(plaid / "codes.npy", codes[: int(doclens[:-1].sum())])
        norms = np.load(plaid / "norms.npy")
        np.save(plaid / "norms.npy", norms[: int(doclens[:-1].sum())])
        residuals = np.load(plaid / "residuals.npy")
        np.save(plaid / "residuals.npy", residuals[: int(doclens[:-1].sum())])
        return plaid.name
    connection = sqlite3.connect(folder / "store.sqlite")
    updates = {
        "future schema": ("UPDATE meta SET value = '99' WHERE key = 'schema_version'", "upgrade"),
        "past schema": ("UPDATE meta SET value = '1' WHERE key = 'schema_version'", "older"),
        "garbage schema": ("UPDATE meta SET value = 'x' WHERE key = 'schema_version'",
                           "store.sqlite"),
        "garbage model record": ("UPDATE meta SET value = '[1]' WHERE key = 'model'",
                                 "store.sqlite"),
        "garbage generation": ("UPDATE meta SET value = 'x' WHERE key = 'generation'",
                               "store.sqlite"),
        "damaged offsets": ("UPDATE documents SET offsets = x'0102' WHERE id = 'astronomy'",
                            "astronomy"),
    }
    if what == "not a database":
        connection.close()
        (folder / "store.sqlite").write_bytes(b"this is not a database" * 100)
        return "store.sqlite"
    sql, word = updates[what]
    connection.execute(sql)
    connection.commit()
    connection.close()
    return word


DAMAGES = ["pickled array", "truncated array", "out-of-range codes", "wrong-shape centroids",
           "negative doclens", "garbage plaid.json", "garbage codec.json",
           "missing generation folder", "fewer documents than the store", "future schema",
           "past schema", "garbage schema", "garbage model record", "garbage generation",
           "damaged offsets", "not a database"]


@pytest.mark.parametrize("what", DAMAGES)
def test_a_damaged_folder_gives_one_line_naming_the_file_and_the_remedy(
        folder, standin_path, capsys, what):
    word = _damage(folder, what)
    code, out, err = run_cli(capsys, "search", folder, "largest planet", "--model", standin_path)
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert err.startswith("error: ") and word in err, err
    assert any(remedy in err for remedy in ("index the documents again", "upgrade longcolbert"))
    # a write refuses too, rather than damaging the folder further
    extra = folder.parent / "extra.txt"
    extra.write_text("Saturn has rings of ice.")
    code, _, err = run_cli(capsys, "index", folder, extra, "--model", standin_path)
    assert code == 1 and err.count("\n") == 1, err


def test_one_bad_row_on_disk_never_breaks_searches_over_the_others(folder, standin_path):
    connection = sqlite3.connect(folder / "store.sqlite")
    connection.execute("UPDATE documents SET metadata = '{\"year\": NaN', page_map = 'oops' "
                       "WHERE id = 'recipe'")
    connection.execute("UPDATE documents SET page_map = '[[0, \"x\", 1]]' WHERE id = 'contract'")
    connection.commit()
    connection.close()
    with Index(folder, model=standin_path, create=False) as index:
        with pytest.warns(UserWarning, match="unreadable"):
            hits = index.search("bake bread dough", k=5)
        assert hits[0].id == "recipe" and hits[0].metadata == {} and hits[0].passages[0].pages == []
        assert [h.id for h in index.search("planet", k=5, filter={"topic": "science"})] == [
            "astronomy"]
        assert index.search("bread", filter={"topic": "food"}) == []  # unreadable: no match


@pytest.mark.parametrize("metadata, page_map, message", [
    ({"year": float("nan")}, None, "NaN or infinite"),
    ({"scores": [1.0, float("inf")]}, None, "NaN or infinite"),
    ({1: "one"}, None, "metadata key 1"),
    (["not", "a", "dict"], None, "not a dict"),
    ({"ok": 1}, [(0, 5)], "triple"),
    ({"ok": 1}, [(0, 500, 1)], "outside"),
    ({"ok": 1}, [("0", "5", "1")], "triple"),
    ({"ok": 1}, "0-5", "not a list"),
    ({"bad": "\udcff"}, None, "not valid Unicode"),
])
def test_bad_documents_are_refused_at_the_door_and_nothing_is_stored(
        folder, standin_path, metadata, page_map, message):
    with Index(folder, model=standin_path, create=False) as index:
        before = sorted(index.ids())
        with pytest.raises(Exception, match=message) as caught:
            index.add(["A fine text.", "Another text about the sea."], ids=["fine", "sea"],
                      metadatas=[{}, metadata],
                      page_maps=None if page_map is None else [[], page_map])
        assert caught.type.__name__ == "InvalidInputError" and "\n" not in str(caught.value)
        assert sorted(index.ids()) == before
        assert [h.id for h in index.search("planet", k=1, filter={"topic": "science"})] == [
            "astronomy"]


def test_text_that_is_not_valid_unicode_is_refused(folder, standin_path):
    with Index(folder, model=standin_path, create=False) as index:
        with pytest.raises(Exception, match="errors='replace'"):
            index.add(["broken \udcff bytes"], ids=["broken"])
        assert "broken" not in index.ids()


ERROR_TYPES = {"pickled array": UnsafeIndexError, "future schema": IndexVersionError,
               "past schema": IndexVersionError, "not a database": LongColBERTError}


@pytest.mark.parametrize("what", DAMAGES)
def test_each_damage_raises_the_error_a_caller_would_catch(folder, standin_path, what):
    _damage(folder, what)
    expected = ERROR_TYPES.get(what, DamagedIndexError)
    with pytest.raises(LongColBERTError) as caught:
        with Index(folder, model=standin_path, create=False) as index:
            index.search("largest planet")
    assert type(caught.value) is expected, (what, type(caught.value), str(caught.value))
    if expected is DamagedIndexError:  # the remedy, once
        assert str(caught.value).count(DamagedIndexError.remedy) == 1
