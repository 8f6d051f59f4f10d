"""LlamaIndex retriever over longcolbert: best passages of whole documents, with highlights.

>>> from llama_index.retrievers.longcolbert import LongColBERTRetriever
>>> retriever = LongColBERTRetriever.from_persist_dir("./my-index")  # doctest: +SKIP
"""

from llama_index.retrievers.longcolbert.base import LongColBERTRetriever, to_engine_filter

__all__ = ["LongColBERTRetriever", "to_engine_filter"]
