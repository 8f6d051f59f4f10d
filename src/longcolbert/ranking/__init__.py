"""Ranking: from query x token similarities to ranked documents with passages.

``rank`` scores candidate documents and is where every search and rerank ends;
``passages`` finds each document's best passages and their highlights;
``reread`` scores the best passages again as read alone; ``lexical`` adds the
hybrid evidence (query words weighted by rarity, keyword marks); ``profile``
draws where in a document the query matched.

May import: ``encoding``, ``documents`` and the shared top-level modules.
"""
