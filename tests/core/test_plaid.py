"""longcolbert's own PLAID: residual codec, search against brute force, copy-on-write changes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from longcolbert.errors import LongColBERTError
from longcolbert.plaid.codec import ResidualCodec
from longcolbert.plaid.reader import PlaidIndex
from longcolbert.plaid.writer import open_writer, write_generation

DIM = 64


def clustered_documents(n_docs: int, tokens: int, seed: int = 0) -> list[torch.Tensor]:
    """Documents whose tokens are noisy copies of a few of 200 topic directions each."""
    generator = torch.Generator().manual_seed(seed)
    topics = torch.nn.functional.normalize(torch.randn(200, DIM, generator=generator), dim=-1)
    docs = []
    for _ in range(n_docs):
        mine = torch.randint(0, 200, (6,), generator=generator)
        picks = mine[torch.randint(0, 6, (tokens,), generator=generator)]
        noise = torch.randn(tokens, DIM, generator=generator) * 0.08
        docs.append(torch.nn.functional.normalize(topics[picks] + noise, dim=-1))
    return docs


def exact_scores(query: torch.Tensor, docs: list[torch.Tensor]) -> np.ndarray:
    return np.array([float((query @ d.T).max(dim=1).values.sum()) for d in docs])


@pytest.mark.parametrize("nbits", [2, 4, 8])
def test_codec_round_trip_keeps_embeddings_close(nbits):
    vectors = torch.cat(clustered_documents(20, 200))
    codec = ResidualCodec.train(vectors, nbits=nbits)
    codes, packed = codec.compress(vectors)
    assert codes.dtype == np.uint16 and packed.dtype == np.uint8
    assert packed.shape == (len(vectors), DIM * nbits // 8)
    cosine = (codec.decompress(codes, packed) * vectors).sum(-1)
    assert float(cosine.mean()) > {2: 0.97, 4: 0.99, 8: 0.999}[nbits]
    coarse = (codec.centroids[torch.from_numpy(codes.astype(np.int64))] * vectors).sum(-1)
    assert float(cosine.mean()) > float(coarse.mean())  # the residual adds precision


def write_next(index: PlaidIndex, generation: int, **changes) -> None:
    """Write ``generation`` from the loaded one, as an add or delete does, and load it."""
    write_generation(index.path(generation), index.contents, nbits=index.nbits, **changes)
    index.load(generation)


def build(tmp_path, docs, **settings) -> PlaidIndex:
    index = PlaidIndex(tmp_path, 0, **settings)
    write_next(index, 1, delete=[], add=docs)
    return index


def test_search_finds_the_exact_best_documents(tmp_path):
    docs = clustered_documents(120, 300)
    index = build(tmp_path, docs, n_full=16)
    generator = torch.Generator().manual_seed(1)
    recall = []
    for target in range(0, 120, 8):
        rows = torch.randint(0, 300, (24,), generator=generator)
        query = torch.nn.functional.normalize(
            docs[target][rows] + 0.05 * torch.randn(24, DIM, generator=generator), dim=-1
        )
        exact = np.argsort(-exact_scores(query, docs), kind="stable")
        found = index.search(query, 5)
        assert found.positions[0] == exact[0]
        assert found.scores == sorted(found.scores, reverse=True)
        assert [s.shape for s in found.similarities] == [(24, 300)] * 5
        recall.append(len(set(found.positions) & set(exact[:5].tolist())) / 5)
    assert np.mean(recall) >= 0.8


def test_search_scores_are_maxsim_on_the_decompressed_embeddings(tmp_path):
    docs = clustered_documents(40, 150)
    index = build(tmp_path, docs, n_full=40)
    query = torch.nn.functional.normalize(docs[3][:16] + 0.1 * torch.randn(16, DIM), dim=-1)
    found = index.search(query, 40)
    restored = index.embeddings(found.positions)
    expected = [float((query @ e.T).max(dim=1).values.sum()) for e in restored]
    np.testing.assert_allclose(found.scores, expected, rtol=2e-3)  # norms are stored as float16
    for sims, embeddings in zip(found.similarities, restored):
        np.testing.assert_allclose(sims, (query @ embeddings.T).numpy(), atol=3e-3)


def test_subset_limits_the_search(tmp_path):
    docs = clustered_documents(60, 100)
    index = build(tmp_path, docs, n_full=8)
    query = docs[7][:20]
    assert index.search(query, 3).positions[0] == 7
    found = index.search(query, 3, subset=[1, 2, 3, 40])
    assert found.positions and set(found.positions) <= {1, 2, 3, 40} and 7 not in found.positions


def test_delete_and_add_keep_store_order(tmp_path):
    docs = clustered_documents(30, 80)
    index = build(tmp_path, docs[:20])
    write_next(index, 2, delete=[0, 5], add=docs[20:])
    expected = [d for i, d in enumerate(docs[:20]) if i not in (0, 5)] + docs[20:]
    assert index.documents == len(expected)
    for position, original in enumerate(expected):
        restored = index.embeddings([position])[0]
        closeness = [float((restored * other).sum(-1).mean()) for other in expected]
        assert int(np.argmax(closeness)) == position and closeness[position] > 0.9
    index.remove_litter(keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plaid-2"]


def test_codec_is_retrained_when_the_index_outgrows_it(tmp_path):
    docs = clustered_documents(40, 100)
    index = build(tmp_path, docs[:1])  # a tiny first add: 100 tokens
    first = index.contents.codec
    write_next(index, 2, delete=[], add=docs[1:])
    codec = index.contents.codec
    assert codec.trained_tokens == 4000 and first.trained_tokens == 100
    assert codec.centroids.shape[0] > first.centroids.shape[0]
    for position in (0, 39):
        restored = index.embeddings([position])[0]
        assert float((restored * docs[position]).sum(-1).mean()) > 0.98


def test_folders_from_the_fast_plaid_layout_are_refused_with_the_remedy(tmp_path):
    (tmp_path / "plaid-1").mkdir()
    np.save(tmp_path / "plaid-1" / "ivf.npy", np.arange(4))
    with pytest.raises(LongColBERTError, match="older longcolbert.*index the documents again"):
        PlaidIndex(tmp_path, 1)


def test_folders_of_an_older_index_format_are_refused_with_the_remedy(tmp_path):
    build(tmp_path, clustered_documents(3, 20))
    settings = tmp_path / "plaid-1" / "plaid.json"
    settings.write_text(settings.read_text().replace('"version": 3', '"version": 1'))
    with pytest.raises(LongColBERTError, match="index format 1.*index the documents again"):
        PlaidIndex(tmp_path, 1)


def test_a_codec_trained_during_a_batched_add_learns_from_every_batch(tmp_path):
    first, second = clustered_documents(20, 600, seed=1), clustered_documents(20, 600, seed=2)
    index = PlaidIndex(tmp_path, 0)
    writer = open_writer(index.path(1), index.contents, delete=[], new_tokens=24_000)  # samples about 2/3 of the tokens
    writer.add(first)  # two batches on unrelated topics: a codec fitted to one
    writer.add(second)  # would restore the other poorly
    writer.finish()
    index.load(1)
    assert index.contents.codec.trained_tokens == 24_000
    assert not list(index.path().glob("part-*"))
    for position, original in [(0, first[0]), (19, first[19]), (20, second[0]), (39, second[19])]:
        restored = index.embeddings([position])[0]
        assert float((restored * original).sum(-1).mean()) > 0.98


def test_folders_of_format_2_open_without_rows_read_alone(tmp_path):
    docs = clustered_documents(3, 20)
    build(tmp_path, docs)
    settings = tmp_path / "plaid-1" / "plaid.json"
    settings.write_text(settings.read_text().replace('"version": 3', '"version": 2'))
    index = PlaidIndex(tmp_path, 1)
    assert not index.reads_alone and index.documents == 3
