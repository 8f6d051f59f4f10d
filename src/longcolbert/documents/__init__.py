"""Documents in: files and texts read, normalised and checked at the door.

``loaders`` reads files (text, Markdown, PDF with page numbers) into
:class:`~longcolbert.documents.loaders.Document`; ``normalize`` gives the text as
the model reads it, with a map back to the source characters; ``checks`` refuses
bad ids, metadata and settings with a one-line error that says how to fix them.

May import: the shared top-level modules (``errors``, ``defaults``, ``folders``,
``filters``, ``progress``, ``results``, ``render``) only.
"""
