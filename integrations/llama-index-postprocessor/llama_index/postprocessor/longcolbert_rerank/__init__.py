"""LlamaIndex reranker over longcolbert: MaxSim of each node's best passage, with highlights.

>>> from llama_index.postprocessor.longcolbert_rerank import LongColBERTRerank
>>> rerank = LongColBERTRerank(top_n=3)  # doctest: +SKIP
"""

from llama_index.postprocessor.longcolbert_rerank.base import LongColBERTRerank

__all__ = ["LongColBERTRerank"]
