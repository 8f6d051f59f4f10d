"""A RAG chain: retriever -> prompt with numbered citations -> chat model -> cited answer."""

from __future__ import annotations

import re
from operator import itemgetter

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

from langchain_longcolbert import LongColBERTRetriever
from longcolbert import Index

from corpus import REAL_PDF

PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer only from these sources and cite them as [n].\n\n{sources}"),
        ("human", "{question}"),
    ]
)


def cite(n: int, doc: Document) -> str:
    pages = doc.metadata.get("pages")
    where = doc.metadata["doc_id"] + (f", p. {pages[0]}-{pages[-1]}" if pages else "")
    return f"[{n}] ({where}) {doc.page_content}"


def numbered_sources(docs: list[Document]) -> str:
    return "\n\n".join(cite(n, d) for n, d in enumerate(docs, 1))


def rag_chain(retriever, model):
    return (
        {"docs": retriever, "question": RunnablePassthrough()}
        | RunnablePassthrough.assign(sources=lambda x: numbered_sources(x["docs"]))
        | RunnablePassthrough.assign(prompt=PROMPT)
        | RunnablePassthrough.assign(answer=itemgetter("prompt") | model | StrOutputParser())
    )


CASES = [
    ("what is the notice period for termination", "contract",
     "The notice period is three months [1].", {"notice", "period", "termination"}),
    # "MiKTeX" is on every page of the MiKTeX manual: weighing under the query's
    # average, it is not why a passage matched, and marks nothing (HIGHLIGHT_WEIGHT)
    ("MiKTeX options maintenance settings admin", REAL_PDF.name,
     "Use the MiKTeX settings program [1].", {"Admin"}),
]


@pytest.mark.parametrize("question, source, reply, words", CASES, ids=["text", "pdf"])
def test_cited_answer_points_at_the_highlighted_passage(
    corpus_index_path, standin_model, question, source, reply, words
):
    if source == REAL_PDF.name and not REAL_PDF.exists():
        pytest.skip("texlive-latex-base-doc is not installed (the set-up installs it)")
    retriever = LongColBERTRetriever(
        index=Index(corpus_index_path, model=standin_model, create=False), k=3
    )
    model = GenericFakeChatModel(messages=iter([AIMessage(content=reply)]))
    result = rag_chain(retriever, model).invoke(question)

    system_prompt = result["prompt"].to_messages()[0].content
    for n, doc in enumerate(result["docs"], 1):
        assert cite(n, doc) in system_prompt
    cited = [result["docs"][int(n) - 1] for n in re.findall(r"\[(\d+)\]", result["answer"])]
    assert [d.metadata["doc_id"] for d in cited] == [source]
    passage = cited[0]
    highlighted = {passage.page_content[h["start"] : h["end"]] for h in passage.metadata["highlights"]}
    assert words <= highlighted
    if source == REAL_PDF.name:
        assert f"({REAL_PDF.name}, p. " in system_prompt
