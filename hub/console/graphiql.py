"""GraphiQL served from the hub's own files: strawberry's page loads React and GraphiQL from a
CDN, which an intranet without internet never reaches (the page stayed on "Loading...")."""

from __future__ import annotations

from importlib.resources import files

GRAPHIQL_TEMPLATE = "graphiql.html"


def graphiql_html() -> str:
    """The page (no other host named in it: tests/browser checks what it loads)."""
    return (files("hub.console") / "templates" / GRAPHIQL_TEMPLATE).read_text(encoding="utf-8")
