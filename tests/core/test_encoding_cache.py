"""The rerank cache: a text seen before is not encoded again, results stay the same, the
bound holds, another model never reads it, and a folder keeps it across processes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from longcolbert import Reranker
from longcolbert.encoding.cache import EncodingCache
from longcolbert.encoding.encoder import Encoder

from corpus import DOCS

QUERY = "what is the notice period for termination"
TEXTS = [text * 4 for text in DOCS.values()]


def ranking(hits) -> list[tuple[int, float, int, int]]:
    return [(h.position, round(h.score, 4), h.passages[0].start, h.passages[0].end) for h in hits]


def test_a_second_rerank_encodes_nothing_and_ranks_the_same(standin_model):
    cache = EncodingCache()
    reranker = Reranker(standin_model, cache=cache)
    first = reranker.rerank(QUERY, TEXTS, passages=1)
    hits, misses = cache.hits, cache.misses
    assert misses >= len(TEXTS)
    second = reranker.rerank(QUERY, TEXTS, passages=1)
    assert cache.misses == misses  # nothing encoded again, re-read passages included
    assert cache.hits - hits == hits + misses
    assert ranking(second) == ranking(first)
    uncached = Reranker(standin_model, cache=EncodingCache(0)).rerank(QUERY, TEXTS, passages=1)
    assert ranking(uncached) == ranking(first)


def test_the_bound_holds_and_the_least_recently_used_go_first(standin_model):
    encoder = Encoder(standin_model)
    one = encoder.encode_documents([TEXTS[0]])[0]
    entry = one.embeddings.numpy().nbytes + one.offsets.nbytes
    cache = EncodingCache(max_bytes=int(entry * 2.5))
    cache.encode(encoder, [TEXTS[0]])
    cache.encode(encoder, [TEXTS[0] + " "])
    cache.encode(encoder, [TEXTS[0]])  # used again: the newest
    cache.encode(encoder, [TEXTS[0] + "  "])  # pushes out the least recently used
    assert cache.stats()["bytes"] <= cache.max_bytes and cache.stats()["entries"] == 2
    hits = cache.hits
    cache.encode(encoder, [TEXTS[0]])
    assert cache.hits == hits + 1
    cache.encode(encoder, [TEXTS[0] + " "])
    assert cache.hits == hits + 1  # forgotten


def test_another_model_never_reads_the_entries(standin_model, tiny_model):
    cache = EncodingCache()
    cache.encode(Encoder(standin_model), TEXTS[:2])
    cache.encode(Encoder(tiny_model), TEXTS[:2])
    assert cache.hits == 0 and cache.misses == 4


def test_a_folder_keeps_entries_for_the_next_process_and_reads_no_pickle(standin_model,
                                                                         tmp_path):
    folder = tmp_path / "cache"
    first = EncodingCache(folder=folder)
    encoded = first.encode(Encoder(standin_model), TEXTS[:2])
    assert len(list(folder.glob("*.npz"))) == 2
    later = EncodingCache(folder=folder)  # a new process: nothing in memory
    again = later.encode(Encoder(standin_model), TEXTS[:2])
    assert later.hits == 2 and later.misses == 0
    for a, b in zip(encoded, again):
        assert np.array_equal(a.embeddings.numpy(), b.embeddings.numpy())
        assert np.array_equal(a.offsets, b.offsets)
    victim = sorted(folder.glob("*.npz"))[0]
    np.save(victim.with_suffix(".npy"), np.array([{"x": 1}], dtype=object), allow_pickle=True)
    os.replace(victim.with_suffix(".npy"), victim)  # a pickled file where an entry was
    fresh = EncodingCache(folder=folder)
    fresh.encode(Encoder(standin_model), TEXTS[:2])
    assert fresh.misses == 1 and fresh.hits == 1  # read as missing, encoded again


def test_a_bad_bound_is_refused():
    with pytest.raises(ValueError, match="max_bytes"):
        EncodingCache(max_bytes=-1)
