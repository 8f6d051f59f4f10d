"""A tiny HTML reader for tests: every element's tag, attributes and inner text."""

from __future__ import annotations

from html.parser import HTMLParser


class Elements(HTMLParser):
    """Every element's tag, attributes and the text inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, dict, list[str]]] = []
        self.done: list[tuple[str, dict, str]] = []

    def handle_starttag(self, tag, attrs):
        self.open.append((tag, dict(attrs), []))

    def handle_endtag(self, tag):
        while self.open:
            name, attrs, text = self.open.pop()
            self.done.append((name, attrs, "".join(text)))
            if self.open:
                self.open[-1][2].extend(text)
            if name == tag:
                break

    def handle_data(self, data):
        if self.open:
            self.open[-1][2].append(data)
