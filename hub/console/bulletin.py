"""The quarterly bulletin in the console: /console/bulletin (the current quarter),
/console/bulletin/{quarter} (the table, the chart, the summary, the year's briefings) and its
downloads under the console's own path, so that a signed-in browser's session carries them."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hub.auth import Scope
from hub.briefings import service as briefings
from hub.errors import DomainError
from hub.reports import bulletin as bulletins
from hub.reports import documents
from hub.reports.summary import percent
from hub.roles import Permission, allows

from .web import console_of, error_page, page, read, render


def current_quarter(request: Request) -> str:
    now = datetime.now(console_of(request).runtime.tz)
    return f"{now.year}Q{(now.month - 1) // 3 + 1}"


@page(Permission.BULLETIN_READ)
async def this_quarter(request: Request, scope: Scope) -> Response:
    return RedirectResponse(f"/console/bulletin/{current_quarter(request)}", status_code=303)


@page(Permission.BULLETIN_READ)
async def quarter_page(request: Request, scope: Scope) -> Response:
    quarter = request.path_params["quarter"]
    tz = console_of(request).runtime.tz
    try:
        found = await read(request, bulletins.bulletin, quarter, tz=tz)
    except DomainError as exc:
        return error_page(request, 400, exc.message)
    year = found.quarter.year
    briefs = None
    if allows(scope, Permission.BRIEFING_READ):
        briefs = await read(request, briefings.of_year, year)
    previous = found.quarter.number - 1 or 4
    before = f"{year if found.quarter.number > 1 else year - 1}Q{previous}"
    after_number = found.quarter.number % 4 + 1
    after = f"{year + 1 if found.quarter.number == 4 else year}Q{after_number}"
    return render(
        request,
        "bulletin/quarter.html",
        {
            "bulletin": found,
            "percent": percent,
            "briefings": briefs,
            "before": before,
            "after": after,
            "tz": tz,
            "chart": {
                "towns": [t.name for t in found.towns],
                "found": [t.figures.found for t in found.towns],
                "solved": [t.figures.solved for t in found.towns],
                "onSite": [t.figures.solved_on_site for t in found.towns],
            },
        },
    )


@page(Permission.BULLETIN_READ)
async def download(request: Request, scope: Scope) -> Response:
    quarter, suffix = request.path_params["quarter"], request.path_params["suffix"]
    if suffix not in ("docx", "xlsx"):
        return error_page(request, 404, "只有 Word（.docx）和 Excel（.xlsx）两种格式")
    runtime = console_of(request).runtime
    try:
        found = await read(request, bulletins.bulletin, quarter, tz=runtime.tz)
    except DomainError as exc:
        return error_page(request, 400, exc.message)
    body, media = await documents.download(found, suffix, runtime.tz)
    name = f"bulletin-{found.quarter.code}.{suffix}"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


ROUTES = [
    Route("/bulletin", this_quarter),
    Route("/bulletin/{quarter}.{suffix}", download),
    Route("/bulletin/{quarter}", quarter_page),
]
