"""A search report as a person sees it, in a real headless browser (Debian's chromium,
driven by Playwright): highlights visible at the right words, scores in tooltips,
nothing overflowing, readable on a dark page too."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from longcolbert import Index
from longcolbert.render import HEAT, INK, contrast_ratio, html_report

from corpus import DOCS, META

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh installs it as root)")


def _rgb(colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(colour[i:i + 2], 16) for i in (1, 3, 5)))


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_report_shows_its_highlights_in_a_browser(tmp_path, standin_model, theme):
    index = Index(tmp_path / "idx", model=standin_model)
    index.add([text * 12 for text in DOCS.values()], ids=list(DOCS),
              metadatas=[META[i] for i in DOCS])
    hits = index.search("what is the notice period for termination", k=2, passages=2)
    expected = [(index.get(hit.id).text[h.start:h.end], h) for hit in hits
                for p in hit.passages for h in p.highlights]
    page_html = html_report("notice period", hits)
    if theme == "dark":  # what a dark notebook theme does: light text on a dark page
        page_html = page_html.replace("<body>", '<body style="background:#111;color:#eee">')
    report = tmp_path / "report.html"
    report.write_text(page_html, encoding="utf-8")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 800, "height": 900})
        page.goto(report.as_uri())
        marks = page.locator("mark")
        assert marks.count() == len(expected) > 0
        heat = {_rgb(c): c for c in HEAT}
        for i, (word, highlight) in enumerate(expected):
            mark = marks.nth(i)
            assert mark.is_visible() and mark.inner_text() == word
            assert mark.get_attribute("title") == f"score {highlight.score:.3f} ({highlight.kind})"
            box = mark.bounding_box()
            assert box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= 800
            ink, background = mark.evaluate(
                "m => [getComputedStyle(m).color, getComputedStyle(m).backgroundColor]")
            assert ink == _rgb(INK) and background in heat
            assert contrast_ratio(INK, heat[background]) >= 4.5
        strips = page.locator("svg.lc-profile")
        assert strips.count() == len(hits) and strips.first.bounding_box()["width"] > 600
        width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert width[0] <= width[1], "the report overflows sideways"
        browser.close()


def test_the_readme_screenshot_exists():
    image = Path(__file__).resolve().parent.parent / "docs" / "rendered-hit.png"
    assert image.exists() and image.stat().st_size > 10_000
    assert "docs/rendered-hit.png" in (image.parent.parent / "README.md").read_text()
