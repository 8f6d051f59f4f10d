"""LangChain integration of longcolbert: whole documents in, best passages with highlights out.

>>> from langchain_longcolbert import LongColBERTRetriever, LongColBERTReranker
>>> retriever = LongColBERTRetriever(index="./my-index", k=4)  # doctest: +SKIP
>>> retriever.invoke("notice period")[0].metadata["highlights"]  # doctest: +SKIP
"""

from langchain_longcolbert.rerankers import LongColBERTReranker
from langchain_longcolbert.retrievers import LongColBERTRetriever

__all__ = ["LongColBERTReranker", "LongColBERTRetriever"]
__version__ = "0.1.0"
