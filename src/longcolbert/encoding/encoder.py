"""Encoding with character offsets: every kept embedding row knows its span in the original text.

The model reads each document as :func:`~longcolbert.documents.normalize.model_view` shows
it (compatibility characters folded, line-break hyphens joined, whitespace
collapsed), and its rows equal PyLate's ``encode(is_query=False)`` rows of that
view (same tokenization, prefix, skiplist and normalisation), with spans in the
stored text. Documents longer than the model context are cut into overlapping
windows stitched back so each token appears once.

>>> encoder = Encoder(load_model())  # doctest: +SKIP
>>> doc = encoder.encode_documents(["Whole documents, not chunks."])[0]  # doctest: +SKIP
>>> doc.embeddings.shape[0] == doc.offsets.shape[0]  # doctest: +SKIP
True
"""

from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import torch

from ..defaults import PROGRESS_FROM_TOKENS, TOKEN_BUDGET
from ..documents.normalize import model_view
from ..errors import InvalidInputError
from ..progress import tqdm
from .attention import (
    TORCH,
    choose_kernel,
    flash_attention_installed,
    packed_forward,
    supports_packing,
)
from .precision import bfloat16_linear_copy, cpu_has_amx, reading_dtype
from .windows import alone_chunks, owned_ranges, plan_windows

if TYPE_CHECKING:
    from pylate.models import ColBERT

TOKENIZE_CHARS = 1 << 16  # characters of a long text tokenized at once
_CUT = re.compile(r"\S(?=\s)")  # the last character of a word before whitespace

# Roles of positions in a model input that are not document tokens.
_LEAD, _PREFIX, _TRAIL = -1, -2, -3


@dataclass
class EncodedDocument:
    """Token embeddings of one document and their ``(start, end)`` char spans.

    Special and prefix tokens have empty spans at the start or end of the text.
    """

    embeddings: torch.Tensor  # float32 [n, dim], L2-normalised rows
    offsets: np.ndarray  # int64 [n, 2]
    alone: torch.Tensor | None = None  # float32 [n, dim]: the same rows, each passage read alone


@dataclass
class EncodedQuery:
    """Query token embeddings; ``content`` marks tokens that come from the query text.

    ``text`` is the query as the model read it (prompt included) and ``spans``
    each token's char span in it (empty for special, prefix and expansion tokens).
    """

    embeddings: torch.Tensor  # float32 [q, dim]
    content: np.ndarray  # bool [q]
    text: str = ""
    spans: np.ndarray | None = None  # int64 [q, 2]


@dataclass
class _Window:
    """One model input: window ``number`` of ``document``, its token ids with the
    special and prefix tokens, the (position, role) pairs whose rows are kept
    (role: the token's index in the document, or a special-token role), and the
    range of document tokens it owns."""

    document: int
    number: int
    ids: list[int]
    keep: list[tuple[int, int]]
    owns: tuple[int, int] = (0, 0)


@dataclass
class _Prepared:
    ids: np.ndarray  # int32 [n]
    offsets: np.ndarray  # [n, 2] into the original text
    text_length: int


def _slices(text: str, size: int) -> list[tuple[int, int]]:
    """``(start, end)`` slices of ``text`` of about ``size`` characters, each cut just
    before a run of whitespace that follows a non-whitespace character.

    >>> _slices("aa bb cc dd", 4)
    [(0, 5), (5, 11)]
    """
    cuts, start = [], 0
    while len(text) - start > size:
        found = _CUT.search(text, start + size)
        if found is None:
            break
        cuts.append((start, found.start() + 1))
        start = found.start() + 1
    cuts.append((start, len(text)))
    return cuts


def _trim_spans(text: str, spans: np.ndarray) -> np.ndarray:
    """Drop whitespace at the edges of token spans (byte-level BPE glues it to words)."""
    trimmed = spans.copy()
    for row, (start, end) in enumerate(spans):
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            trimmed[row] = (start, end)
    return trimmed


class Encoder:
    """Encodes documents (with offsets) and queries with a PyLate ColBERT model.

    ``token_budget`` bounds the padded tokens of one forward batch; a window
    longer than the budget runs alone. ``overlap`` is the token overlap of
    consecutive windows of a long document. ``dtype`` is the precision asked for
    when the model was loaded; with ``"auto"``, :meth:`read_passages` may multiply
    in bfloat16 (:mod:`longcolbert.encoding.precision`).
    """

    def __init__(self, model: ColBERT, *, token_budget: int = TOKEN_BUDGET,
                 overlap: int | None = None, dtype: str = "auto"):
        self.model = model
        self.tokenizer = model.tokenizer
        if not getattr(self.tokenizer, "is_fast", False):
            raise InvalidInputError(
                "the model's tokenizer is not a fast tokenizer, so character offsets are "
                "unavailable; use a checkpoint that ships tokenizer.json"
            )
        self.lowercase = bool(getattr(model[0], "do_lower_case", False))
        self.context = int(model.document_length or 0)
        self.prefix_id = model.document_prefix_id
        self.lead, self.trail = self._special_frame()
        specials = len(self.lead) + len(self.trail)
        self.window = self.context - specials - (1 if self.prefix_id is not None else 0)
        if self.window < 1:
            raise InvalidInputError(
                f"document length {self.context} leaves no room for text; use a larger one"
            )
        self.overlap = overlap if overlap is not None else min(self.window // 4, 512)
        self.token_budget = token_budget
        self.skiplist = set(int(i) for i in model.skiplist)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self._turn = threading.Lock()  # the model and its tokenizer: one user at a time
        self._twin: Any = None  # a copy for queries while documents encode (see encode_query)
        self._twin_turn = threading.Lock()
        self._reader: Any = None  # the model with bfloat16 linear layers (see read_passages)
        # ModernBERT runs packed (no padding, banded local attention); others pad.
        self.packed = supports_packing(model)
        weights = next(model.parameters())
        self.kernel = (
            choose_kernel(weights.device, weights.dtype, flash_attention_installed())
            if self.packed
            else TORCH
        )
        self.on_cpu = weights.device.type == "cpu"
        self.reading_dtype = reading_dtype(dtype, weights.device.type,
                                           str(weights.dtype).removeprefix("torch."),
                                           cpu_has_amx())

    # -- documents -------------------------------------------------------------------

    def _prepare(self, text: str) -> _Prepared:
        view = model_view(text, lowercase=self.lowercase)
        if not view.text:
            raise InvalidInputError("a document is empty or only whitespace; give it some text")
        ids, offsets = self._tokenize(view.text)
        spans = view.source_spans(offsets)
        return _Prepared(ids, _trim_spans(text, spans), len(text))

    def _tokenize(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Token ids (int32) and view offsets ([n, 2]) of ``text``, tokenized a slice of
        about ``TOKENIZE_CHARS`` characters at a time, so a long text never holds the
        tokenizer's per-token Python objects all at once. Slices are cut just before
        whitespace that follows a word, where no tokenizer joins across (a word keeps
        its leading space, as byte-level BPE needs)."""
        ids, offsets = [], []
        for start, end in _slices(text, TOKENIZE_CHARS):
            with self._turn:  # the tokenizer is not thread-safe
                encoding = self.tokenizer(
                    text[start:end],
                    add_special_tokens=False,
                    return_offsets_mapping=True,
                    return_attention_mask=False,
                    verbose=False,
                )
            ids.append(np.asarray(encoding["input_ids"], dtype=np.int32))
            offsets.append(np.asarray(encoding["offset_mapping"], dtype=np.int64).reshape(-1, 2)
                           + start)
        return np.concatenate(ids), np.concatenate(offsets)

    def count_rows(self, texts: Sequence[str], batch: int = 64) -> list[int]:
        """How many embedding rows each text will get: its tokens that the skiplist
        keeps (PyLate drops punctuation from documents) plus the special and prefix
        tokens (tokenized in batches; a long text in slices).
        """
        extra = len(self.lead) + len(self.trail) + (1 if self.prefix_id is not None else 0)
        counts: list[int] = []
        for start in range(0, len(texts), batch):
            chunk = [model_view(t, lowercase=self.lowercase).text for t in texts[start : start + batch]]
            short = [t for t in chunk if len(t) <= TOKENIZE_CHARS]
            with self._turn:  # the tokenizer is not thread-safe
                found = iter(self.tokenizer(short, add_special_tokens=False,
                                            return_attention_mask=False,
                                            verbose=False)["input_ids"] if short else [])
            for text in chunk:
                ids = next(found) if len(text) <= TOKENIZE_CHARS else self._tokenize(text)[0]
                kept = len(ids) - sum(1 for token in ids if int(token) in self.skiplist)
                counts.append(kept + extra)
        return counts

    def _special_frame(self) -> tuple[list[int], list[int]]:
        """The special tokens the tokenizer puts before and after a text (e.g. CLS / SEP)."""
        probe = self.tokenizer("x", add_special_tokens=True, return_special_tokens_mask=True)
        special = probe["special_tokens_mask"]
        content = [i for i, flag in enumerate(special) if not flag]
        ids = probe["input_ids"]
        return ids[: content[0]], ids[content[-1] + 1 :]

    def _window_input(self, ids: np.ndarray, start: int, end: int
                      ) -> tuple[list[int], list[int]]:
        """Model input ids for tokens ``start:end`` and the role of each position."""
        full = self.lead + ids[start:end].tolist() + self.trail
        roles = [_LEAD] * len(self.lead) + list(range(start, end)) + [_TRAIL] * len(self.trail)
        if self.prefix_id is not None:  # PyLate inserts the prefix after the first token
            full = full[:1] + [self.prefix_id] + full[1:]
            roles = roles[:1] + [_PREFIX] + roles[1:]
        return full, roles

    def encode_documents(
        self, texts: Sequence[str], *, show_progress: bool | None = None,
        units: Sequence[np.ndarray] | None = None, alone_tokens: int = 0,
        progress: Callable[[int, int], Any] | None = None,
    ) -> list[EncodedDocument]:
        """Encode whole documents of any length; see :class:`EncodedDocument`.

        With ``alone_tokens`` and each text's sentence ``units`` (``[n, 2]`` char
        spans), each document is also read a passage at a time: its tokens in runs
        of whole units of about ``alone_tokens`` tokens, each run encoded on its
        own (:func:`~longcolbert.encoding.windows.alone_chunks`), kept in
        :attr:`EncodedDocument.alone`, row for row beside the whole-document rows.
        The model is taken one forward batch (``token_budget`` tokens) at a time, so
        a query from another thread waits for one batch, not for all the documents.
        ``progress`` is called after each batch with the model input tokens done and
        their total (an index's own bar moves by it).
        """
        with torch.inference_mode():
            prepared = [self._prepare(text) for text in texts]
            groups = [list(self._windows(d, doc)) for d, doc in enumerate(prepared)]
            alone = [self._alone_windows(doc, group, units[d], alone_tokens)
                     if units is not None and alone_tokens else []
                     for d, (doc, group) in enumerate(zip(prepared, groups))]
            items = [item for group in groups for item in group]
            alone_items = [item for group in alone for item in group]
            total = sum(len(item.ids) for item in items + alone_items)
            if show_progress is None:
                show_progress = total >= PROGRESS_FROM_TOKENS
            with tqdm(total=total, unit="tok", desc="Encoding", disable=not show_progress) as bar:

                finished = [0]  # a disabled bar counts nothing

                def done(tokens: int) -> None:
                    bar.update(tokens)
                    finished[0] += tokens
                    if progress is not None:
                        progress(finished[0], total)

                rows = self._run(items, done)
                alone_rows = self._run(alone_items, done)
            return [self._assemble(doc, group, rows, alone[d], alone_rows)
                    for d, (doc, group) in enumerate(zip(prepared, groups))]

    def read_passages(self, texts: Sequence[str]) -> list[EncodedDocument]:
        """Short texts encoded alone at search time (re-reading), as :meth:`encode_documents`
        encodes them; where :attr:`reading_dtype` is set (a CPU with AMX), by a copy of
        the model whose linear layers multiply in bfloat16, made the first time (the
        re-reads about 1.7x as fast, for one more copy of the model's memory). On a
        CPU each text runs in its own forward: no padding, which is faster there, and
        a text's rows depend on it alone, not on the texts read with it. Rows come
        back float32 and unit length.

        >>> encoder.read_passages(["A passage read on its own."])[0].embeddings.dtype  # doctest: +SKIP
        torch.float32
        """
        model = self._reading_model()  # copied outside inference mode: plain parameters
        with torch.inference_mode():
            prepared = [self._prepare(text) for text in texts]
            groups = [list(self._windows(d, doc)) for d, doc in enumerate(prepared)]
            items = [item for group in groups for item in group]
            rows: dict[tuple[int, int], torch.Tensor] = {}
            for batch in ([[item] for item in items] if self.on_cpu else [items]):
                rows.update(self._run(batch, None, model))
            return [self._assemble(doc, group, rows) for doc, group in zip(prepared, groups)]

    def _reading_model(self) -> ColBERT:
        """The model :meth:`read_passages` runs: this one, or its copy with bfloat16
        linear layers (:func:`~longcolbert.encoding.precision.bfloat16_linear_copy`)."""
        if self.reading_dtype is None:
            return self.model
        if self._reader is None:
            with self._turn:  # copied between two forwards
                if self._reader is None:
                    self._reader = bfloat16_linear_copy(self.model)
        return self._reader

    def encode_in_pieces(
        self, text: str, piece_tokens: int, progress: Callable[[int], Any] | None = None,
        *, units: np.ndarray | None = None, alone_tokens: int = 0,
    ) -> Iterator[EncodedDocument]:
        """Encode one document in consecutive pieces of about ``piece_tokens`` rows, so
        its memory is one piece at a time however long it is. The pieces, joined,
        are :meth:`encode_documents` of the text (to float rounding; a passage read
        alone never crosses a piece's edge). ``progress`` is called with the tokens
        of each forward batch; ``units`` and ``alone_tokens`` as there.

        >>> pieces = list(encoder.encode_in_pieces(long_text, 65_536))  # doctest: +SKIP
        """
        with torch.inference_mode():
            doc = self._prepare(text)
            group: list[_Window] = []

            def piece() -> EncodedDocument:
                alone = (self._alone_windows(doc, group, units, alone_tokens)
                         if units is not None and alone_tokens else [])
                return self._assemble(doc, group, self._run(group, progress), alone,
                                      self._run(alone, progress))

            for item in self._windows(0, doc):
                group.append(item)
                if sum(len(i.ids) for i in group) >= piece_tokens:
                    yield piece()
                    group = []
            if group:
                yield piece()

    def _windows(self, document: int, doc: _Prepared) -> Iterator[_Window]:
        """The model inputs of one document, one per window, in order, made as needed."""
        windows = plan_windows(len(doc.ids), self.window, self.overlap)
        owned = owned_ranges(windows)
        last = len(windows) - 1
        for w, ((start, end), (own_start, own_end)) in enumerate(zip(windows, owned)):
            full, roles = self._window_input(doc.ids, start, end)
            keep = []
            for position, (token, role) in enumerate(zip(full, roles)):
                if token in self.skiplist:
                    continue
                if role >= 0:
                    if own_start <= role < own_end:
                        keep.append((position, role))
                elif (role == _TRAIL and w == last) or (role != _TRAIL and w == 0):
                    keep.append((position, role))
            yield _Window(document, w, full, keep, (own_start, own_end))

    def _alone_windows(self, doc: _Prepared, group: Sequence[_Window], units: np.ndarray,
                       target: int) -> list[_Window]:
        """The tokens that the whole-document windows ``group`` keep, read again in runs
        of whole sentence ``units`` of about ``target`` tokens, each run alone; they keep
        the same rows in the same order (special rows where the group keeps them)."""
        first, last = group[0].owns[0], group[-1].owns[1]
        spans = np.asarray(units, dtype=np.int64).reshape(-1, 2)
        token_unit = np.searchsorted(spans[:, 0], doc.offsets[first:last, 0], side="right")
        chunks = alone_chunks(token_unit, min(target, self.window), self.window)
        has_lead = any(role < 0 and role != _TRAIL for item in group for _, role in item.keep)
        has_trail = any(role == _TRAIL for item in group for _, role in item.keep)
        if not chunks:
            chunks = [(0, 0)]
        windows = []
        for c, (start, end) in enumerate(chunks):
            full, chunk_roles = self._window_input(doc.ids, first + start, first + end)
            keep = []
            for position, (token, role) in enumerate(zip(full, chunk_roles)):
                if token in self.skiplist:
                    continue
                if role >= 0 or (role == _TRAIL and has_trail and c == len(chunks) - 1) or (
                        role != _TRAIL and role < 0 and has_lead and c == 0):
                    keep.append((position, role))
            windows.append(_Window(group[0].document, -1 - c, full, keep,
                                   (first + start, first + end)))
        return windows

    def _run(self, items: Sequence[_Window], progress: Callable[[int], Any] | None,
             model: ColBERT | None = None) -> dict[tuple[int, int], torch.Tensor]:
        """The kept rows of each window, by (document, window), from ``model`` (this one
        if not given)."""
        rows: dict[tuple[int, int], torch.Tensor] = {}
        for batch in self._batches(list(items)):
            embeddings = self._forward([item.ids for item in batch], model)
            for item, matrix in zip(batch, embeddings):
                positions = torch.tensor([p for p, _ in item.keep], dtype=torch.long)
                rows[(item.document, item.number)] = matrix[positions].float().cpu()
            if progress is not None:
                progress(sum(len(item.ids) for item in batch))
        return rows

    @staticmethod
    def _assemble(doc: _Prepared, items: Sequence[_Window],
                  rows: dict[tuple[int, int], torch.Tensor], alone: Sequence[_Window] = (),
                  alone_rows: dict[tuple[int, int], torch.Tensor] | None = None,
                  ) -> EncodedDocument:
        """Rows and char spans of these windows of one document, in order (and the
        rows of the same tokens read ``alone``, if any)."""
        parts, spans = [], []
        for item in items:
            parts.append(rows[(item.document, item.number)])
            for _, role in item.keep:
                if role >= 0:
                    spans.append(doc.offsets[role])
                elif role == _TRAIL:
                    spans.append((doc.text_length, doc.text_length))
                else:
                    spans.append((0, 0))
        embeddings = torch.cat(parts) if parts else torch.zeros(0, 0)
        read_alone = None
        if alone and alone_rows is not None:
            read_alone = torch.cat([alone_rows[(item.document, item.number)] for item in alone])
            assert read_alone.shape == embeddings.shape, "the same tokens, the same rows"
        return EncodedDocument(embeddings, np.asarray(spans, dtype=np.int64).reshape(-1, 2),
                               read_alone)

    def _batches(self, inputs: list[_Window]) -> list[list[_Window]]:
        """Group model inputs, longest first, so the (padded) tokens stay within the budget."""
        ordered = sorted(inputs, key=lambda item: -len(item.ids))
        batches: list[list[_Window]] = []
        current: list[_Window] = []
        total = 0
        for item in ordered:
            width = len(current[0].ids) if current else len(item.ids)
            cost = total + len(item.ids) if self.packed else width * (len(current) + 1)
            if current and cost > self.token_budget:
                batches.append(current)
                current, total = [], 0
            current.append(item)
            total += len(item.ids)
        if current:
            batches.append(current)
        return batches

    def _forward(self, sequences: list[list[int]], model: ColBERT | None = None
                 ) -> list[torch.Tensor] | torch.Tensor:
        with self._turn:  # one forward at a time: a packed one switches the attention
            return self._forward_alone(sequences, self.model if model is None else model)

    def _forward_alone(self, sequences: list[list[int]], model: ColBERT
                       ) -> list[torch.Tensor] | torch.Tensor:
        if self.packed:
            return [
                torch.nn.functional.normalize(rows.float(), p=2, dim=-1)
                for rows in packed_forward(model, sequences, self.kernel)
            ]
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for i, seq in enumerate(sequences):
            ids[i, : len(seq)] = torch.tensor(seq)
            mask[i, : len(seq)] = 1
        device = model.device
        features = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
        out = model(features)
        return torch.nn.functional.normalize(out["token_embeddings"].float(), p=2, dim=-1)

    # -- queries ---------------------------------------------------------------------

    def encode_query(self, query: str) -> EncodedQuery:
        """Encode a query exactly as PyLate's ``encode(is_query=True)`` does (prefix, expansion tokens).

        Runs the model directly rather than through ``encode``, which re-applies
        ``.to(device)`` and ``.eval()`` to every module on each call (5 ms a query).
        While the model is busy in another thread (an add's encoding, another
        query), the query runs on a copy of the model made the first time that
        happens (one model's memory more, once), so a search waits for an add's
        encoding at most once: for one forward batch, while the copy is made.
        """
        if not isinstance(query, str):
            raise InvalidInputError(
                f"the query is a {type(query).__name__}, not text; give a question as a string")
        if not query.strip():
            raise InvalidInputError("the query is empty; give a question or some keywords")
        if self._turn.acquire(blocking=False):
            try:
                return self._encode_query(self.model, query)
            finally:
                self._turn.release()
        twin = self._query_twin()
        with self._twin_turn:
            return self._encode_query(twin, query)

    def _query_twin(self) -> ColBERT:
        """A copy of the model (with its own tokenizer) for queries while the model is busy."""
        if self._twin is None:
            with self._turn:  # copied between two forwards: nothing is half switched
                if self._twin is None:
                    self._twin = copy.deepcopy(self.model)
        return self._twin

    def _encode_query(self, model: ColBERT, query: str) -> EncodedQuery:
        """The query on ``model`` (this encoder's model or its twin); the caller holds its lock."""
        prompt = model.prompts.get(model.default_prompt_name) if model.default_prompt_name else None
        with torch.inference_mode():
            if model.training:
                model.eval()
            text = (prompt or "") + model_view(query).text  # as documents are read
            features = model.tokenize([text], is_query=True)
            features = {key: value.to(model.device) for key, value in features.items()}
            out = model(features)
            ids = features["input_ids"][0].cpu().numpy()
            not_content = set(model.tokenizer.all_special_ids)
            if model.query_prefix_id is not None:
                not_content.add(int(model.query_prefix_id))
            content = np.array([int(i) not in not_content for i in ids], dtype=bool)
            spans = self._query_spans(model.tokenizer, text, ids, content)
        embeddings = torch.nn.functional.normalize(out["token_embeddings"][0].float(), p=2, dim=-1)
        if model.do_query_expansion:  # expansion tokens are kept even though not attended to
            keep = np.ones(len(ids), dtype=bool)
        else:
            keep = out["attention_mask"][0].cpu().numpy().astype(bool)
        return EncodedQuery(embeddings.cpu()[torch.from_numpy(keep)], content[keep], text,
                            spans[keep])

    def _query_spans(self, tokenizer: Any, text: str, ids: np.ndarray, content: np.ndarray
                     ) -> np.ndarray:
        """Char spans in ``text`` of the query's content tokens (in order, as the
        tokenizer cut ``text``); all empty if the ids do not line up."""
        spans = np.zeros((len(ids), 2), dtype=np.int64)
        view = model_view(text, lowercase=self.lowercase)
        encoding = tokenizer(view.text, add_special_tokens=False,
                             return_offsets_mapping=True, verbose=False)
        rows = np.flatnonzero(content)
        if list(encoding["input_ids"][: len(rows)]) != [int(i) for i in ids[rows]]:
            return spans
        offsets = np.asarray(encoding["offset_mapping"][: len(rows)], dtype=np.int64)
        spans[rows] = view.source_spans(offsets.reshape(-1, 2))
        return spans
