"""Errors raised by longcolbert. Every message is one line naming the problem and the remedy."""


class LongColBERTError(Exception):
    """Base class: a user-facing problem with a one-line message that says how to fix it.

    >>> str(LongColBERTError("no documents given; pass at least one text"))
    'no documents given; pass at least one text'
    """


class InvalidInputError(LongColBERTError, ValueError):
    """Bad input from the caller (empty text, unknown id, bad filter...)."""


class IncompatibleModelError(LongColBERTError):
    """The index was built with another model than the one asked for."""


class UnsafeIndexError(LongColBERTError):
    """An index folder holds what could execute code or reach outside it (pickled arrays, links)."""


class LoadError(LongColBERTError):
    """A file could not be read (corrupt, encrypted, not UTF-8...)."""


class UnsafeModelError(LongColBERTError):
    """A model would import code of its own (or the index folder chose a local model);
    nothing was loaded."""


class DamagedIndexError(LongColBERTError):
    """Part of an index folder cannot be read or does not fit the rest. The message is
    the problem; the remedy is added here, once.

    >>> str(DamagedIndexError("/idx/plaid.json is not a JSON object"))
    '/idx/plaid.json is not a JSON object; the index folder is damaged: index the documents again into a new folder'
    """

    remedy = "the index folder is damaged: index the documents again into a new folder"

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem}; {self.remedy}")
        self.problem = problem


class IndexBusyError(LongColBERTError):
    """Another process holds the index folder open (a Qdrant folder takes one process at
    a time); nothing is wrong with it."""


class IndexVersionError(LongColBERTError):
    """The index folder was written in a format this longcolbert does not read: an older
    one (index the documents again) or a newer one (upgrade longcolbert)."""
