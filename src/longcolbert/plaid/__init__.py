"""The embedded index: one folder, a SQLite store beside a PLAID index.

``index`` is :class:`~longcolbert.Index`, which keeps the two consistent;
``store`` holds texts, metadata, offsets, sentence units and their FTS5 table;
``codec`` compresses token vectors (centroids plus residuals); ``format``
names the files of one generation of the index and checks them; ``reader``
searches a generation and ``writer`` writes the next one (the two share only
``format`` and ``codec``).

May import: ``ranking``, ``encoding``, ``documents``, ``backend`` and the shared
top-level modules.
"""
