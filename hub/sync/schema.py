"""GraphQL: the change feed the city platform keeps its copy in step with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import strawberry

from hub.cases.nodes import Case, Shared, View, case_node, plain_case_node
from hub.cases.schema import PageInfo, view_of
from hub.gql import Context, selected
from hub.sync import service


@strawberry.type
class CaseChangeEdge:
    cursor: str
    node: Case


@strawberry.type
class CaseChangeConnection:
    page_info: PageInfo
    edges: list[CaseChangeEdge]


@strawberry.type
class Query:
    @strawberry.field(
        description="Every change to a case moves it to the end of this feed; page with after "
        "and never miss a change. Within one page a case appears at most once; first is capped "
        "at 1000."
    )
    async def case_changes(
        self,
        info: strawberry.Info[Context, None],
        after: str | None = None,
        first: int | None = 100,
    ) -> CaseChangeConnection:
        ctx = info.context
        include = selected(info.selected_fields, "caseChanges", "edges", "node")
        page = await ctx.read(service.changes, after, first, key=ctx.key, include=include)
        view = view_of(ctx)
        return CaseChangeConnection(
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=page.cursors[-1] if page.cursors else after,
            ),
            edges=[
                CaseChangeEdge(cursor=c, node=n)
                for n, c in zip(_nodes(page, view), page.cursors, strict=True)
            ],
        )


@dataclass(slots=True)
class _Lists:
    """A plain row's lists for plain_case_node: its external refs; the others empty, which is
    true to the answer only because the page is plain when none of them is selected."""

    external_refs: list[Any]
    reports: tuple[()] = ()
    timeline: tuple[()] = ()
    links: tuple[()] = ()


def _nodes(page: service.ChangePage, view: View) -> list[Case]:
    if page.refs is None:
        return [case_node(row, view) for row in page.cases]
    shared, refs = Shared(), page.refs
    return [plain_case_node(row, view, shared, _Lists(refs.get(row.id, []))) for row in page.cases]
