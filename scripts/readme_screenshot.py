"""Make the README's screenshot: a real search over Python's library docs, rendered as a
notebook shows it, photographed by headless Chromium.

    .venv/bin/python scripts/readme_screenshot.py   # writes docs/rendered-hit.png

Uses the offline stand-in model (tests/local_models.py) unless --model is given.
"""

from __future__ import annotations

import argparse
import glob
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

QUERY = "how do I copy a whole directory tree but leave out some files"
PAGES = ["shutil", "os", "pathlib", "zipfile", "tempfile", "filecmp", "glob", "fnmatch"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "rendered-hit.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from longcolbert import Index
    from longcolbert.render import html_report

    from local_models import build_standin

    model = args.model or str(build_standin(ROOT / ".cache" / "notebook-standin"))
    docs = Path(sorted(glob.glob("/usr/share/doc/python3*/html/_sources/library/os.rst.txt"))[0]).parent
    with tempfile.TemporaryDirectory() as work:
        index = Index(Path(work) / "idx", model=model)
        index.add_files([docs / f"{name}.rst.txt" for name in PAGES])
        hits = index.search(QUERY, k=1, passages=1)
        page_html = Path(work) / "report.html"
        page_html.write_text(html_report(QUERY, hits), encoding="utf-8")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                 args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 900, "height": 600},
                                    device_scale_factor=1)
            page.goto(page_html.as_uri())
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.locator(".lc-hit").first.screenshot(path=str(args.out))
            browser.close()
    print(f"{args.out}: {hits[0].id}, query {QUERY!r}")


if __name__ == "__main__":
    main()
