"""The Qdrant backend: the same documents, passages and highlights in a Qdrant
collection (a server, or an embedded Qdrant Edge folder).

``index`` is :class:`~longcolbert.QdrantIndex`; ``codebook`` keeps the shared
centroids in the collection and ``centroid_codes`` the first-stage codes;
``token_bytes`` packs token vectors into payload bytes; ``filters`` translates
longcolbert filters into Qdrant's; ``edge_client`` gives a Qdrant Edge folder the
client's interface.

May import: ``plaid`` (its codec), ``ranking``, ``encoding``, ``documents``,
``backend`` and the shared top-level modules.
"""
