"""The encoder: rows equal PyLate's, offsets exact on unicode, long documents windowed."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
import torch

from longcolbert.documents.normalize import model_view
from longcolbert.encoding.encoder import Encoder, _Window
from longcolbert.encoding.model import load_model
from longcolbert.encoding.windows import owned_ranges, plan_windows
from longcolbert.errors import InvalidInputError

UNICODE_TEXT = (
    "  İstanbul'da ΣΟΦΟΣ naïve café — 東京都の天気は晴れ。 Emoji 😀🎉 and e\u0301 "
    "combining; Straße, ﬁle, ǅ and \u0130I.\nSecond line, with (punctuation)!  "
)
TEXTS = [
    "Whole documents are indexed with late interaction, then searched by passage.",
    UNICODE_TEXT,
    "Short.",
    "A longer one. " * 30,
]


@pytest.mark.parametrize("which", ["standin_model", "tiny_model"])
def test_rows_equal_pylate_encode(which, request):
    """Rows equal PyLate's rows of the text as the model reads it (see normalize.py)."""
    model = request.getfixturevalue(which)
    ours = Encoder(model, token_budget=256).encode_documents(TEXTS)
    views = [model_view(text).text for text in TEXTS]
    reference = model.encode(views, is_query=False, convert_to_numpy=False)
    for doc, ref in zip(ours, reference):
        assert doc.embeddings.shape == ref.shape
        assert float((doc.embeddings - ref.cpu()).abs().max()) <= 1e-5
        assert doc.offsets.shape == (ref.shape[0], 2)


def test_offsets_slice_the_original_text_on_unicode(tiny_model):
    """Byte-level BPE with lowercasing: each token is (part of) the lowercased span."""
    encoder = Encoder(tiny_model)
    doc = encoder.encode_documents([UNICODE_TEXT])[0]
    prepared = encoder._prepare(UNICODE_TEXT)
    tokenizer = tiny_model.tokenizer
    content = [(tid, span) for tid, span in zip(prepared.ids, prepared.offsets)]
    assert len(content) > 30
    for tid, (start, end) in content:
        assert 0 <= start < end <= len(UNICODE_TEXT)
        piece = tokenizer.decode([tid])
        if "\ufffd" in piece or not piece.strip():
            continue  # a partial UTF-8 character or a bare space
        read = unicodedata.normalize("NFKC", UNICODE_TEXT[start:end]).lower()  # as the model reads it
        assert piece.strip() in read, (piece, UNICODE_TEXT[start:end])
    # every kept row's span is one of the token spans, or empty for special tokens
    spans = {tuple(s) for _, s in content}
    for start, end in doc.offsets:
        assert (start, end) in spans or start == end
    assert doc.offsets[:, 0].tolist() == sorted(doc.offsets[:, 0].tolist())


def test_offsets_match_wordpieces(standin_model):
    """BERT WordPiece (lowercases, strips accents): each piece is its normalised span."""
    encoder = Encoder(standin_model)
    prepared = encoder._prepare(UNICODE_TEXT)
    normalizer = standin_model.tokenizer.backend_tokenizer.normalizer
    tokens = standin_model.tokenizer.convert_ids_to_tokens(prepared.ids)
    checked = 0
    for token, (start, end) in zip(tokens, prepared.offsets):
        if token == "[UNK]":
            continue
        read = unicodedata.normalize("NFKC", UNICODE_TEXT[start:end])  # as the model reads it
        normalized = normalizer.normalize_str(read).strip()  # CJK gets spaces
        # one folded character may give several pieces ("ǅ" reads "dž": "d", "##z")
        assert token.removeprefix("##") in normalized
        checked += 1
    assert checked > 30


def test_windowing_five_times_the_context(tiny_path):
    model = load_model(tiny_path, document_length=64)
    encoder = Encoder(model, token_budget=512)
    text = " ".join(f"word{i} is here." for i in range(120))
    prepared = encoder._prepare(text)
    assert len(prepared.ids) >= 5 * 64
    doc = encoder.encode_documents([text])[0]
    kept = [i for i in prepared.ids if i not in encoder.skiplist]
    # every kept token once, plus CLS, [D] and SEP
    assert doc.embeddings.shape[0] == len(kept) + 3
    content = doc.offsets[2:-1]
    expected = np.array([s for i, s in zip(prepared.ids, prepared.offsets) if i not in encoder.skiplist])
    assert np.array_equal(content, expected)
    # each token's row comes from the window where it has the most two-sided context
    windows = plan_windows(len(prepared.ids), encoder.window, encoder.overlap)
    assert len(windows) >= 5
    position = next(p for p in range(len(prepared.ids) // 2, len(prepared.ids))
                    if prepared.ids[p] not in encoder.skiplist)  # a token that keeps its row
    owner = next(w for w, (a, b) in enumerate(owned_ranges(windows)) if a <= position < b)
    start, end = windows[owner]
    full, _ = encoder._window_input(prepared.ids, start, end)
    direct = encoder._forward([full])[0]
    row_in_window = len(encoder.lead) + 1 + (position - start)
    kept_before = sum(1 for i in prepared.ids[:position] if i not in encoder.skiplist)
    assert torch.allclose(doc.embeddings[2 + kept_before], direct[row_in_window], atol=1e-5)


def test_owned_ranges_pick_the_most_context():
    for n, window, overlap in [(50, 10, 3), (97, 16, 8), (33, 33, 4), (200, 64, 16)]:
        windows = plan_windows(n, window, overlap)
        covered = []
        for (a, b), (s, e) in zip(windows, owned_ranges(windows)):
            assert s <= e and a <= s and e <= b
            covered.extend(range(s, e))
        assert covered == list(range(n))
        for (s, e), w in zip(owned_ranges(windows), range(len(windows))):
            for p in range(s, e):
                def context(k):
                    a, b = windows[k]
                    left = n if a == 0 else p - a
                    right = n if b == n else b - 1 - p
                    return min(left, right) if a <= p < b else -1
                assert context(w) == max(context(k) for k in range(len(windows)))


def test_token_budget_does_not_change_results(tiny_model, standin_model):
    texts = [f"Document number {i}. " * (i * 7 + 1) for i in range(6)]
    small = Encoder(tiny_model, token_budget=64).encode_documents(texts)
    large = Encoder(tiny_model, token_budget=100_000).encode_documents(texts)
    for a, b in zip(small, large):
        assert np.array_equal(a.offsets, b.offsets)
        assert float((a.embeddings - b.embeddings).abs().max()) <= 1e-5
    for model in (tiny_model, standin_model):  # packed (ModernBERT) and padded (BERT) batches
        encoder = Encoder(model, token_budget=64)
        batches = encoder._batches([_Window(0, 0, [1] * n, []) for n in (10, 20, 30, 40, 100)])
        for batch in batches:
            lengths = [len(item.ids) for item in batch]
            cost = sum(lengths) if encoder.packed else len(batch) * max(lengths)
            assert len(batch) == 1 or cost <= 64


@pytest.mark.numerics
@pytest.mark.parametrize("which", ["tiny_model", "standin_model"])
def test_a_document_encoded_in_pieces_equals_it_whole(which, request):
    model = request.getfixturevalue(which)
    encoder = Encoder(model, token_budget=256)
    text = " ".join(f"Sentence {i} says something about rivers and bridges." for i in range(300))
    whole = encoder.encode_documents([text])[0]
    seen = []
    pieces = list(encoder.encode_in_pieces(text, 700, progress=seen.append))
    assert len(pieces) > 2 and sum(seen) >= whole.offsets.shape[0]
    assert np.array_equal(np.concatenate([p.offsets for p in pieces]), whole.offsets)
    joined = torch.cat([p.embeddings for p in pieces])
    assert float((joined - whole.embeddings).abs().max()) <= 1e-5


@pytest.mark.parametrize("which", ["tiny_model", "standin_model"])
def test_a_long_text_tokenized_in_slices_equals_it_whole(which, request, monkeypatch):
    import longcolbert.encoding.encoder as encoder_module

    model = request.getfixturevalue(which)
    text = ("Ein  ﬁrst\n\nparagraph, with a hyphen-\nated word and   spaces.\tTabs;  日本語の文"
            "と😀 emoji.\n") * 40
    whole = Encoder(model)._prepare(text)
    monkeypatch.setattr(encoder_module, "TOKENIZE_CHARS", 37)
    sliced = Encoder(model)
    pieces = sliced._prepare(text)
    assert len(encoder_module._slices(model_view(text).text, 37)) > 20
    assert pieces.ids.tolist() == whole.ids.tolist()
    assert np.array_equal(pieces.offsets, whole.offsets)
    assert sliced.count_rows([text, "short"]) == Encoder(model).count_rows([text, "short"])


def test_empty_text_is_a_clear_error(tiny_model):
    with pytest.raises(InvalidInputError, match="empty"):
        Encoder(tiny_model).encode_documents(["ok", "   \n "])
    with pytest.raises(InvalidInputError, match="query is empty"):
        Encoder(tiny_model).encode_query("  ")


def test_query_content_marks_real_tokens(standin_model):
    query = Encoder(standin_model).encode_query("notice period")
    assert query.embeddings.shape[0] == 5  # CLS, [Q], notice, period, SEP
    assert query.content.tolist() == [False, False, True, True, False]


@pytest.mark.parametrize("name", ["tiny_model", "standin_model"])
def test_query_embeddings_equal_pylate_encode(name, request):
    model = request.getfixturevalue(name)  # with and without query expansion
    for text in ["notice period", "What is the notice period of the contract, in months?"]:
        reference = model.encode([text], is_query=True, convert_to_numpy=False)[0]
        query = Encoder(model).encode_query(text)
        assert query.embeddings.shape == reference.shape
        assert float((query.embeddings - reference.float()).abs().max()) <= 1e-5


def test_query_expansion_tokens_count_but_are_not_content(tiny_model):
    query = Encoder(tiny_model).encode_query("notice period")
    assert query.embeddings.shape[0] == tiny_model.query_length  # padded with [MASK]
    assert 0 < query.content.sum() < 6


@pytest.mark.parametrize("which", ["tiny_model", "standin_model"])
def test_counted_rows_are_the_rows_encoded(which, request):
    # the indexing bar's total and an add's batches rest on these counts
    encoder = Encoder(request.getfixturevalue(which))
    texts = ["Hello, world!", "a.b.c -- (x) [y]", "...", "Ünïcode — “quotes”, ﬁne.",
             "The notice period is three months. " * 40]
    counts = encoder.count_rows(texts)
    assert counts == [e.embeddings.shape[0] for e in encoder.encode_documents(texts)]
