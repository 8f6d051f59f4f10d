"""Encoding speed and memory: longcolbert's encoder against stock PyLate ``encode``.

Runs on a shape twin of mxbai-edge-colbert-v0-32m (its ModernBERT config, random
weights; see ``tests/local_models.py``) with documents cut from Python's library
docs to exact token counts. Every configuration runs in its own process, so its
peak RSS is its own.

    .venv/bin/python benchmarks/encoding_speed.py            # all, about 12 minutes on 2 cores
    .venv/bin/python benchmarks/encoding_speed.py --only 8k  # one size
    .venv/bin/python benchmarks/encoding_speed.py --only 32k --repeat 3  # median of 3, interleaved
    python benchmarks/encoding_speed.py --device cuda --only 32k --only 8k-x8  # on a GPU

On CUDA, ``--dtype auto`` (the default) runs both encoders in bfloat16 where
flash-attn is installed (longcolbert then uses FlashAttention-2), else float32;
peak GPU memory is reported beside peak RSS.

Results go to ``benchmarks/results/encoding_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
from common import build_shape_twin, source_texts  # noqa: E402

DEFAULT_TWIN = HERE / "work" / "twin"

# name -> (documents: list of token counts, as a seeded recipe)
SETS = {
    "32k": {"lengths": [31999]},  # + the [D] prefix: 32,000, the model context
    "8k": {"lengths": [8000]},
    "mixed": {"mixed": (120, 100, 2000)},  # 120 documents of 100-2,000 tokens
    "8k-x3": {"lengths": [8000] * 3},
    "8k-x8": {"lengths": [8000] * 8},
}
RUNS = [  # (set, encoder)
    ("32k", "stock"), ("32k", "longcolbert"),
    ("8k", "stock"), ("8k", "longcolbert"),
    ("mixed", "stock"), ("mixed", "longcolbert"),
    ("8k-x3", "stock"), ("8k-x3", "longcolbert"), ("8k-x8", "longcolbert"),
]


def documents(tokenizer, name: str) -> list[str]:
    """Texts of the set ``name``, each exactly its token count with CLS and SEP."""
    from longcolbert.documents.normalize import model_view

    recipe = SETS[name]
    if "mixed" in recipe:
        count, low, high = recipe["mixed"]
        rng = random.Random(0)
        lengths = [rng.randint(low, high) for _ in range(count)]
    else:
        lengths = recipe["lengths"]
    # cut from the model's view of the text (lowercased, whitespace collapsed, as
    # longcolbert's encoder reads it), so both encoders see the same tokens
    text = model_view("\n".join(source_texts()), lowercase=True).text
    offsets = tokenizer(text[:2_000_000], add_special_tokens=False,
                        return_offsets_mapping=True, verbose=False)["offset_mapping"]
    out, token = [], 0
    for n in lengths:
        content = n - 2  # CLS and SEP
        start = offsets[token][0]
        end = offsets[token + content - 1][1]
        out.append(text[start:end])
        token += content
    return out


def child(name: str, encoder_kind: str, twin: Path, device: str | None, dtype: str) -> dict:
    """One configuration, in this process: encode the set, report time and peak RSS."""
    import torch

    from longcolbert.encoding.encoder import Encoder
    from longcolbert.encoding.model import load_model

    model = load_model(str(twin), device=device, dtype=dtype)
    cuda = model.device.type == "cuda"
    texts = documents(model.tokenizer, name)
    warm_up = [texts[0][:2000]]  # one-time library set-up is not what we measure
    if encoder_kind == "stock":
        def encode(batch: list[str]) -> list:
            return model.encode(batch, is_query=False, batch_size=32, show_progress_bar=False,
                                convert_to_numpy=False)
    else:
        encoder = Encoder(model)

        def encode(batch: list[str]) -> list:
            return [e.embeddings for e in encoder.encode_documents(batch, show_progress=False)]
    encode(warm_up)
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    rows = sum(int(e.shape[0]) for e in encode(texts))
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - started
    tokens = sum(len(model.tokenizer(t, verbose=False)["input_ids"]) for t in texts)
    result = {
        "set": name,
        "encoder": encoder_kind,
        "device": str(model.device),
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "documents": len(texts),
        "tokens": tokens,
        "rows": rows,
        "wall_s": round(wall, 2),
        "tokens_per_s": round(tokens / wall, 1),
        "docs_per_s": round(len(texts) / wall, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_before_mb": round(rss_loaded),
        "threads": torch.get_num_threads(),
    }
    if cuda:
        result["gpu"] = torch.cuda.get_device_name()
        result["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
        if encoder_kind == "longcolbert":
            result["kernel"] = encoder.kernel
    return result


def equality(twin: Path) -> dict:
    """Max abs difference of longcolbert's rows and stock PyLate's on a 2k-token document."""
    from longcolbert.encoding.encoder import Encoder
    from longcolbert.encoding.model import load_model

    model = load_model(str(twin))
    model.tokenizer.model_max_length = 32768
    texts = documents(model.tokenizer, "8k")
    text = texts[0][: len(texts[0]) // 4]
    ours = Encoder(model).encode_documents([text])[0].embeddings
    stock = model.encode([text], is_query=False, convert_to_numpy=False)[0].cpu()
    return {"tokens": int(stock.shape[0]), "max_abs_diff": float((ours - stock).abs().max())}


def run_child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        return {"args": args, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twin", type=Path, default=DEFAULT_TWIN)
    parser.add_argument("--only", choices=sorted(SETS), action="append")
    parser.add_argument("--device", help="torch device (default: PyLate's choice)")
    parser.add_argument("--dtype", default="auto", help="weights' dtype (see load_model)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each configuration this many times, interleaved; ratios use medians")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "encoding_speed.json")
    parser.add_argument("--child", nargs=2, metavar=("SET", "ENCODER"), help=argparse.SUPPRESS)
    parser.add_argument("--equality", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.twin, args.device, args.dtype)))
        return
    if args.equality:
        print(json.dumps(equality(args.twin)))
        return

    build_shape_twin(args.twin, source_texts())
    results = {"machine": {"cpu": platform.processor() or platform.machine(),
                           "cores": os.cpu_count(), "python": platform.python_version()},
               "equality_2k": run_child(["--twin", str(args.twin), "--equality"]), "runs": []}
    print(json.dumps(results["equality_2k"]), flush=True)
    for _ in range(args.repeat):
        for name, kind in RUNS:
            if args.only and name not in args.only:
                continue
            placement = ["--dtype", args.dtype] + (["--device", args.device] if args.device else [])
            result = run_child(["--twin", str(args.twin), *placement, "--child", name, kind])
            print(json.dumps(result), flush=True)
            results["runs"].append(result)
    walls: dict[tuple, list[float]] = {}
    for r in results["runs"]:
        if "wall_s" in r:
            walls.setdefault((r["set"], r["encoder"]), []).append(r["wall_s"])
    ratios = {}
    for name in SETS:
        stock, ours = walls.get((name, "stock")), walls.get((name, "longcolbert"))
        if stock and ours:
            ratios[name] = round(statistics.median(ours) / statistics.median(stock), 3)
    results["time_ratio_longcolbert_over_stock"] = ratios
    print(json.dumps(ratios))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
