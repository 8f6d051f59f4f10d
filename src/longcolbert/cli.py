"""The ``longcolbert`` command line: index, search, delete, info.

    longcolbert index INDEX_DIR PATH... [--model M] [--document-length N] [--id-prefix P]
                      [--follow-links] [--read-alone] [--meta KEY=VALUE]...
    longcolbert search INDEX_DIR QUERY [-k K] [--passages P] [--filter KEY=VALUE]... [--json]
                       [--semantic-only] [--no-reread] [--model M] [--html FILE]
    longcolbert search INDEX_DIR --queries FILE [options as above but --html]
                       (one query a line, "-" for standard input; one JSON line each)
    (index and search also take --trust-remote-code)
    longcolbert delete INDEX_DIR ID...
    longcolbert info INDEX_DIR [--json] [--ids]

INDEX_DIR may also be ``qdrant://HOST[:PORT]/COLLECTION``, a Qdrant server (API key
from ``QDRANT_API_KEY``). Errors end with one line on stderr (``error: ...``) and
exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import warnings
from typing import Any, Iterator, Sequence

from .errors import InvalidInputError, LongColBERTError
from .locations import open_index
from .render import html_report, terminal_safe, terminal_text

_CLI_OPERATORS = {">=": "$gte", "<=": "$lte", "!=": "$ne", ">": "$gt", "<": "$lt",
                  "~": "$contains", "=": "$eq"}
# the key, then the first operator in the item (the longer one where two start there)
_CLI_FILTER = re.compile(r"^(.*?)(>=|<=|!=|>|<|~|=)(.*)$", re.DOTALL)


def _parse_filter(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` (a repeated key means "any of"), ``KEY!=VALUE``, ``KEY>=N``,
    ``KEY>N``, ``KEY<=N``, ``KEY<N`` and ``KEY~VALUE`` (a list field holds VALUE);
    all must match. VALUE is JSON if it parses, else text.

    >>> _parse_filter(["topic=law", "topic=hr", "year>=2020", "tags~legal"])
    {'topic': ['law', 'hr'], 'year': {'$gte': 2020}, 'tags': {'$contains': 'legal'}}
    """
    equal: dict[str, list] = {}
    operators: dict[str, dict[str, Any]] = {}
    for item in items:
        match = _CLI_FILTER.match(item)
        if not match or not match.group(1):
            raise InvalidInputError(
                f"bad --filter {item!r}; write KEY=VALUE, KEY!=VALUE, KEY>=N, KEY<N or KEY~VALUE")
        key, at, raw = match.groups()
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        except RecursionError:  # nested beyond any filter's need
            raise InvalidInputError(f"--filter {key!r} nests its value too deeply; give a "
                                    "value, or a flat JSON list of values") from None
        if at == "=":
            equal.setdefault(key, []).extend(value if isinstance(value, list) else [value])
        else:
            operators.setdefault(key, {})[_CLI_OPERATORS[at]] = value
    clauses = [{k: v[0] if len(v) == 1 else v} for k, v in equal.items()]
    clauses += [{k: ops} for k, ops in operators.items()]
    if set(equal) & set(operators):  # one key both equal and compared: each clause holds
        return {"$and": clauses}
    return {k: v for clause in clauses for k, v in clause.items()}


def _parse_meta(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs for every document of an ``index`` call; VALUE is JSON if it
    parses (``year=2021`` is a number, so ``--filter "year>=2020"`` matches), else text.

    >>> _parse_meta(["year=2021", "team=legal", "draft=false"])
    {'year': 2021, 'team': 'legal', 'draft': False}
    """
    meta: dict[str, Any] = {}
    for item in items:
        key, equals, raw = item.partition("=")
        if not equals or not key.strip():
            raise InvalidInputError(f"bad --meta {item!r}; write KEY=VALUE (e.g. year=2021)")
        try:
            meta[key.strip()] = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            meta[key.strip()] = raw
    return meta


def _filter_fields(where: Any) -> list[str]:
    """The metadata fields a filter names, in order (inside ``$and`` / ``$or`` too).

    >>> _filter_fields({"$or": [{"topic": "law"}, {"year": {"$gte": 2020}}], "team": "x"})
    ['topic', 'year', 'team']
    """
    fields: list[str] = []
    for key, value in where.items() if isinstance(where, dict) else []:
        if key in ("$and", "$or") and isinstance(value, list):
            fields += [f for part in value for f in _filter_fields(part)]
        elif isinstance(key, str) and not key.startswith("$"):
            fields.append(key)
    return list(dict.fromkeys(fields))


def _warn_missing_fields(index: Any, where: dict[str, Any]) -> None:
    """A warning on stderr for each filter field that no stored document has: else the
    search just finds nothing, with no word of why."""
    for field in _filter_fields(where):
        if not index.count_matching({field: {"$ne": None}}):
            _say(f"warning: no document in this index has the metadata field {field!r}, so "
                 "--filter on it matches nothing; set fields when indexing "
                 f"(longcolbert index ... --meta {field}=VALUE)", sys.stderr)


def _say(line: str, stream: Any = None) -> None:
    """Print one line for people: ids, paths and text from an index folder may hold
    terminal escape sequences, shown as codes (:func:`~longcolbert.render.terminal_safe`),
    and a message is one line whatever it quotes."""
    print(terminal_safe(line).replace("\n", "\\n"), file=stream or sys.stdout)


def _print_hits(query: str, hits: list) -> None:
    """Hits with their passages; highlighted words in colour on a terminal, plain text
    (no marks) when piped or with ``NO_COLOR`` set."""
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    width = shutil.get_terminal_size((100, 24)).columns
    sys.stdout.write(terminal_text(query, hits, color=color, width=width))


def _cmd_index(args: argparse.Namespace) -> int:
    with open_index(args.index_dir, create=True, model=args.model, backend=args.backend,
                    document_length=args.document_length,
                    **({"read_alone": True} if args.read_alone else {}),
                    trust_remote_code=args.trust_remote_code) as index:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ids, problems = index.add_files(args.paths, id_prefix=args.id_prefix,
                                            follow_links=args.follow_links,
                                            show_progress=sys.stderr.isatty(),
                                            metadata=_parse_meta(args.meta or []))
        for warning in caught:
            _say(f"warning: {warning.message}", sys.stderr)
        for problem in problems:
            _say(f"error: {problem}", sys.stderr)
        info = index.info()
    _say(f"indexed {len(ids)} documents into {args.index_dir} "
         f"({info['documents']} documents, {info['tokens']} tokens in all)")
    return 1 if problems else 0


def _cmd_search(args: argparse.Namespace) -> int:
    if (args.query is None) == (args.queries is None):
        raise InvalidInputError("give one QUERY, or --queries FILE (one query a line, - for "
                                "standard input), not both")
    if args.queries is not None and args.html:
        raise InvalidInputError("--html writes one query's report; leave it out with --queries")
    where = _parse_filter(args.filter or [])
    with open_index(args.index_dir, model=args.model, hybrid=not args.semantic_only,
                    reread=not args.no_reread,
                    trust_remote_code=args.trust_remote_code) as index:
        if where:
            _warn_missing_fields(index, where)
        if args.queries is not None:
            return _search_many(index, args, where or None)
        hits = index.search(args.query, k=args.k, passages=args.passages, filter=where or None)
    if args.html:
        with open(args.html, "w", encoding="utf-8") as handle:
            handle.write(html_report(args.query, hits))
    if args.json:
        print(json.dumps({"query": args.query, "results": [h.to_dict() for h in hits]},
                         ensure_ascii=False))
    elif args.html:
        _say(f"wrote {len(hits)} results to {args.html}")
    else:
        _print_hits(args.query, hits)
    return 0


def _search_many(index: Any, args: argparse.Namespace, where: dict[str, Any] | None) -> int:
    """Each line of ``args.queries`` searched with the model loaded once, one JSON line
    out per query as it is answered (``search --json``'s object). Blank lines are skipped."""
    with _open_queries(args.queries) as lines:
        for line in lines:
            query = line.rstrip("\r\n")
            if query.strip():
                hits = index.search(query, k=args.k, passages=args.passages, filter=where)
                print(json.dumps({"query": query, "results": [h.to_dict() for h in hits]},
                                 ensure_ascii=False), flush=True)
    return 0


def _open_queries(name: str) -> Any:
    """The query file (UTF-8), or standard input for ``-`` (left open after)."""
    if name == "-":
        return contextlib.nullcontext(sys.stdin)
    try:
        return open(name, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read the queries file {name!r} ({exc.strerror}); "
                                "give a text file with one query a line") from exc


def _cmd_delete(args: argparse.Namespace) -> int:
    with open_index(args.index_dir) as index:
        index.delete(args.ids)
        left = len(index)
    _say(f"deleted {len(args.ids)} documents from {args.index_dir} ({left} left)")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    with open_index(args.index_dir) as index:
        info = index.info()
        ids = sorted(index.ids()) if args.ids else None
    if ids is not None:
        if args.json:
            print(json.dumps(ids, ensure_ascii=False))
        else:
            for doc_id in ids:
                _say(doc_id)
        return 0
    if args.json:
        print(json.dumps(info))
    else:
        for key, value in info.items():
            _say(f"{key}: {value}")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def _model_code_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--trust-remote-code", action="store_true",
                         help="let the model import code of its own (custom modules); "
                              "only for models you trust")


_INDEX_DIR_HELP = "the index folder, or qdrant://HOST[:PORT]/COLLECTION for a Qdrant server"


class _DefaultsShown(argparse.HelpFormatter):
    """Help that names an option's default, where it has one its help does not state."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, "", argparse.SUPPRESS) or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


def _version() -> str:
    """The installed package's version (no import of the package's heavy parts)."""
    try:
        return importlib.metadata.version("longcolbert")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="longcolbert",
        description="Whole-document ColBERT search: best passages, highlights, exact offsets.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    index = commands.add_parser("index", help="index files or folders (creates or upserts)",
                                formatter_class=_DefaultsShown)
    index.add_argument("index_dir", help=_INDEX_DIR_HELP)
    index.add_argument("paths", nargs="+", metavar="PATH",
                       help="files and folders to index (folders recursively; PDFs with pages)")
    index.add_argument("--model", default=None,
                       help="PyLate ColBERT hub id or folder (default: the index's, or "
                            "mixedbread-ai/mxbai-edge-colbert-v0-32m)")
    index.add_argument("--backend", choices=["embedded", "qdrant"], default=None,
                       help="for a new folder: the embedded index (default) or a Qdrant Edge "
                            "shard; later commands read the folder's own")
    index.add_argument("--document-length", type=_positive, default=None,
                       help="tokens per encoding window (default: the model's context)")
    index.add_argument("--id-prefix", default="",
                       help="put this before every id (e.g. v2/), to keep files of the same "
                            "name from different places apart")
    index.add_argument("--meta", action="append", metavar="KEY=VALUE",
                       help="metadata for every document of this call, repeatable (VALUE is "
                            "JSON if it parses: year=2021 is a number); --filter selects on it")
    index.add_argument("--follow-links", action="store_true",
                       help="index files that links in a folder point to outside it")
    index.add_argument("--read-alone", action="store_true",
                       help="a new index also stores each document read a passage at a time, "
                            "so searches re-read without encoding: faster searches, a longer "
                            "build, a larger folder, somewhat fewer right passages")
    _model_code_option(index)
    index.set_defaults(run=_cmd_index)

    search = commands.add_parser("search", help="search an index",
                                 formatter_class=_DefaultsShown)
    search.add_argument("index_dir", help=_INDEX_DIR_HELP)
    search.add_argument("query", nargs="?", help="what to look for (or use --queries)")
    search.add_argument("--queries", metavar="FILE",
                        help="search every line of FILE (- for standard input) with the model "
                             "loaded once; prints one JSON line per query")
    search.add_argument("-k", type=_positive, default=10, help="documents to return")
    search.add_argument("--passages", type=int, default=3, help="passages per document")
    search.add_argument("--filter", action="append", metavar="KEY=VALUE",
                        help="metadata condition, repeatable, all must hold: KEY=VALUE (a "
                             "repeated key: any of the values), KEY!=VALUE, KEY>N, KEY>=N, "
                             "KEY<N, KEY<=N, KEY~VALUE (a list field holds VALUE); VALUE is "
                             "JSON if it parses (year>=2020 compares numbers)")
    search.add_argument("--json", action="store_true", help="print one JSON object")
    search.add_argument("--html", metavar="FILE",
                        help="write a standalone HTML report (highlights, where each "
                             "document matched)")
    search.add_argument("--semantic-only", action="store_true",
                        help="MaxSim alone: no lexical evidence (hybrid search is the default)")
    search.add_argument("--no-reread", action="store_true",
                        help="score passages only inside their documents: faster, without "
                             "re-reading the best ones on their own (the default re-reads)")
    search.add_argument("--model", default=None,
                        help="the model the index was built with, when it is a local folder "
                             "(default: the index's hub id)")
    _model_code_option(search)
    search.set_defaults(run=_cmd_search)

    delete = commands.add_parser("delete", help="delete documents by id")
    delete.add_argument("index_dir", help=_INDEX_DIR_HELP)
    delete.add_argument("ids", nargs="+", metavar="ID",
                        help="ids of the documents to delete (list them: info --ids)")
    delete.set_defaults(run=_cmd_delete)

    info = commands.add_parser("info", help="describe an index")
    info.add_argument("index_dir", help=_INDEX_DIR_HELP)
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.add_argument("--ids", action="store_true",
                      help="list the documents' ids instead, one a line (with --json: a list)")
    info.set_defaults(run=_cmd_info)
    return parser


@contextlib.contextmanager
def _native_output_held() -> Iterator[list[int]]:
    """While a command runs, what native code writes straight to file descriptor 2 (a
    Rust panic's message and backtrace, printed before Qdrant Edge raises the error
    this command reports in one line) goes to a temporary file, while Python's
    ``sys.stderr`` still reaches the terminal. The held text is shown at the end,
    unless the command failed (set ``status[0]``). Only when ``sys.stderr`` is the
    process's own (not under a test's capture)."""
    status = [0]
    try:
        sys.stderr.flush()
        attached = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        attached = False
    if not attached:
        yield status
        return
    original, saved = sys.stderr, os.dup(2)
    held = tempfile.TemporaryFile()
    sys.stderr = open(os.dup(saved), "w", encoding=original.encoding, errors=original.errors,
                      buffering=1)
    os.dup2(held.fileno(), 2)
    try:
        yield status
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        sys.stderr.close()
        sys.stderr = original
        os.close(saved)
        if status[0] == 0:
            held.seek(0)
            shutil.copyfileobj(held, sys.stderr.buffer)
            sys.stderr.flush()
        held.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with _native_output_held() as status:
        status[0] = _run(args)
    return status[0]


def _run(args: argparse.Namespace) -> int:
    try:
        return args.run(args)
    except LongColBERTError as exc:
        _say(f"error: {exc}", sys.stderr)
        return 1
    except (OSError, sqlite3.Error) as exc:  # a read-only folder, a full disk...
        reason = " ".join(str(exc).split())
        _say(f"error: {reason}; check that the index folder is writable and the disk has "
             "room, then retry (what was committed before is kept)", sys.stderr)
        return 1
    except UnicodeDecodeError as exc:  # a queries file that is not text
        _say(f"error: the input is not UTF-8 text ({exc.reason} at byte {exc.start}); "
             "save it as UTF-8", sys.stderr)
        return 1
    except KeyboardInterrupt:
        _say("error: interrupted; what was committed before stays indexed", sys.stderr)
        return 130
    except SystemExit:
        raise
    except BaseException as exc:  # a dependency's own error type, or a Rust panic
        reason = " ".join(str(exc).split())[:300]
        _say(f"error: unexpected {type(exc).__name__} ({reason}); what was committed before "
             "is kept; please report this with the command that caused it", sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
