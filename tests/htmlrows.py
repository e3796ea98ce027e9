"""The rows of an HTML table as a page's DOM holds them, for the tests that drive Chromium."""

from __future__ import annotations

from html.parser import HTMLParser


class _Rows(HTMLParser):
    def __init__(self, keys: tuple[str, ...], table_id: str | None, cells: tuple[str, ...]) -> None:
        super().__init__()
        self.keys, self.table_id, self.cell_tags = keys, table_id, cells
        self.inside = table_id is None
        self.rows: dict = {}
        self.key, self.cells = None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and self.table_id is not None:
            self.inside = attrs.get("id") == self.table_id
        elif self.inside and tag == "tr" and self.keys[0] in attrs:
            values = tuple(attrs.get(k) for k in self.keys)
            self.key, self.cells = values if len(values) > 1 else values[0], []
        elif self.inside and tag in self.cell_tags and self.cells is not None:
            self.cells.append("")

    def handle_data(self, data):
        if self.cells:
            self.cells[-1] += data

    def handle_endtag(self, tag):
        if tag == "tr" and self.key is not None:
            self.rows[self.key] = self.cells
            self.key, self.cells = None, None
        elif tag == "table" and self.table_id is not None:
            self.inside = False


def table_rows(dom: str, *keys: str, table_id: str | None = None, cells: tuple[str, ...] = ("td",)) -> dict:
    """Cell texts of the rows that carry the attribute ``keys[0]``, keyed by its value (by the
    tuple of the ``keys``' values when there are several); only in the table ``table_id`` if given."""
    parser = _Rows(keys, table_id, cells)
    parser.feed(dom)
    return parser.rows
