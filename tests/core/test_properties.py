"""Property test: any Unicode text, metadata and page map either is refused in one line or
is stored exactly, and every result slices the stored text exactly."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longcolbert import Index, InvalidInputError

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))
METADATA = st.dictionaries(st.text(min_size=0, max_size=8),
                           st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=3)),
                           max_size=4)
TEXT = st.text(st.characters(codec="utf-8"), min_size=0, max_size=400) | st.text(
    st.sampled_from("ab ﬁ ﬂ-\n\t\u00a0\u200bé\u0301東😀.?!"), max_size=300)


@st.composite
def documents(draw):
    text = draw(TEXT)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=4)))
    page_map = [(a, b, page) for page, (a, b) in enumerate(itertools.pairwise([0, *cuts]), 1)]
    if draw(st.booleans()):  # sometimes a bad entry
        page_map.append(draw(st.tuples(st.integers(-5, len(text) + 5),
                                       st.integers(-5, len(text) + 5), st.integers(-1, 3))))
    return text, draw(METADATA), page_map, draw(st.text(max_size=30))


@pytest.fixture(scope="module")
def shared(tmp_path_factory, tiny_model):
    index = Index(tmp_path_factory.mktemp("prop") / "idx", model=tiny_model)
    index.add(["A first document about rivers and bridges."], ids=["first"])
    return index


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(document=documents(), serial=st.integers(0, 10**9))
def test_any_document_is_refused_cleanly_or_stored_exactly(shared, document, serial):
    text, metadata, page_map, query = document
    doc_id = f"doc-{serial}"
    before = set(shared.ids())
    try:
        shared.add([text], ids=[doc_id], metadatas=[metadata], page_maps=[page_map])
    except InvalidInputError as exc:
        assert "\n" not in str(exc)
        assert set(shared.ids()) == before  # nothing stored, nothing lost
    else:
        stored = shared.get(doc_id)
        assert stored.text == text
        assert stored.metadata == metadata
        assert stored.page_map == sorted(page_map)
        # its offsets slice the text: every token span lies inside it
        assert ((stored.offsets[:, 0] <= stored.offsets[:, 1])
                & (stored.offsets[:, 1] <= len(text))).all()
    for hit in shared.search(query.strip() or "rivers", k=3, passages=2):
        full = shared.get(hit.id).text
        for passage in hit.passages:
            assert full[passage.start:passage.end] == passage.text
            for h in passage.highlights:
                assert passage.start <= h.start < h.end <= passage.end
    assert shared.search("rivers and bridges", k=1)  # the index stays searchable
