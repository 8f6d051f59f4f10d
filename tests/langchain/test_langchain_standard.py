"""LangChain's own standard retriever tests, against a real index built with the stand-in model."""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_longcolbert import LongColBERTRetriever
from longcolbert import Index


class TestLongColBERTRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _shared_index(self, corpus_index_path, standin_model) -> None:
        self._index = Index(corpus_index_path, model=standin_model, create=False)

    @property
    def retriever_constructor(self) -> type[LongColBERTRetriever]:
        return LongColBERTRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"index": self._index}

    @property
    def retriever_query_example(self) -> str:
        return "what is the notice period for termination"
