"""LlamaIndex retriever over longcolbert: best passages of whole documents, with highlights.

>>> from llama_index.retrievers.longcolbert import LongColBERTRetriever
>>> retriever = LongColBERTRetriever.from_persist_dir("./my-index")  # doctest: +SKIP
>>> from llama_index.retrievers.longcolbert import LongColBERTIndex
>>> engine = LongColBERTIndex.from_persist_dir("./my-index").as_query_engine()  # doctest: +SKIP
"""

from llama_index.retrievers.longcolbert.base import LongColBERTRetriever, to_engine_filter
from llama_index.retrievers.longcolbert.index import LongColBERTIndex

__all__ = ["LongColBERTIndex", "LongColBERTRetriever", "to_engine_filter"]
