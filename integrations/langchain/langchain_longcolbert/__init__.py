"""LangChain integration of longcolbert: whole documents in, best passages with highlights out
(``LongColBERTRetriever``), or whole documents out (``LongColBERTVectorStore``).

>>> from langchain_longcolbert import LongColBERTRetriever, LongColBERTReranker
>>> retriever = LongColBERTRetriever(index="./my-index", k=4)  # doctest: +SKIP
>>> retriever.invoke("notice period")[0].metadata["highlights"]  # doctest: +SKIP
"""

from langchain_longcolbert.rerankers import LongColBERTReranker
from langchain_longcolbert.retrievers import LongColBERTRetriever
from langchain_longcolbert.vectorstores import LongColBERTVectorStore

__all__ = ["LongColBERTReranker", "LongColBERTRetriever", "LongColBERTVectorStore"]
__version__ = "0.1.0"
