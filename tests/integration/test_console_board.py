"""The command centre's board (/console/board) through the live app, on both databases: its
figures equal the GraphQL stats on the same data, a town's account sees its town only (figures,
map and socket token), the socket token is read-only and short-lived, bad requests are refused."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jwt
from sqlalchemy import update

from hub.cases.model import Case
from tests.conftest import SECRET, Hub, register
from tests.console import account, client, sign_in

BOARD = """query {
  supervisionBoard { tenant { code } open overdue dueSoon yellowCards redCards } }"""
STATS = """query($from: DateTime, $to: DateTime) {
  caseStats(groupBy: CHANNEL, from: $from, to: $to) { key total } }"""
CARDS = """query($from: DateTime, $to: DateTime) {
  cardCounts(groupBy: TENANT, from: $from, to: $to) { key yellowCards redCards } }"""


def meta_csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert found, "no CSRF token in the board page"
    return found.group(1)


def today_bounds() -> tuple[str, str]:
    local = datetime.now(ZoneInfo("Asia/Shanghai"))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.isoformat(), (start + timedelta(days=1)).isoformat()


async def make_overdue(hub: Hub, case_id: str, hours: float) -> None:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        await session.execute(
            update(Case)
            .where(Case.id == uuid.UUID(case_id))
            .values(due_at=datetime.now(UTC) - timedelta(hours=hours))
        )
        await session.commit()


async def seed_cases(hub: Hub) -> dict[str, Any]:
    laiji = (await register(hub, latitude=34.5, longitude=113.4, address="来集镇"))["case"]
    await register(hub, channel="PLATFORM", title="河道漂浮物", category="WATER")
    await register(hub, channel="GRID", title="露天焚烧", category="AIR")
    await make_overdue(hub, laiji["id"], 30)
    return laiji


async def board_json(hub: Hub, login: str) -> dict[str, Any]:
    async with client(hub) as http:
        await sign_in(http, login)
        answer = await http.get("/console/board/data.json")
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        return dict(answer.json())


async def test_the_figures_equal_the_graphql_stats(hub: Hub) -> None:
    overdue = await seed_cases(hub)
    await account(hub, "d1", "DISPATCHER")
    found = await board_json(hub, "d1")
    start, end = today_bounds()
    token = hub.token("DISPATCHER")
    board = (await hub.gql(BOARD, token=token))["supervisionBoard"]
    assert [
        {k: t[k] for k in ("code", "open", "overdue", "dueSoon", "yellowCards", "redCards")}
        for t in found["towns"]
    ] == [
        {
            "code": b["tenant"]["code"],
            "open": b["open"],
            "overdue": b["overdue"],
            "dueSoon": b["dueSoon"],
            "yellowCards": b["yellowCards"],
            "redCards": b["redCards"],
        }
        for b in board
    ]
    stats = {
        r["key"]: r["total"]
        for r in (await hub.gql(STATS, {"from": start, "to": end}, token=token))["caseStats"]
    }
    intake = {i["channel"]: i["count"] for i in found["intake"]}
    assert intake == {c: stats.get(c, 0) for c in ("HOTLINE", "PLATFORM", "MONITORING", "GRID")}
    assert intake["HOTLINE"] >= 1 and intake["PLATFORM"] >= 1 and intake["GRID"] >= 1
    assert found["intakeTotal"] == sum(intake.values())
    cards = (await hub.gql(CARDS, {"from": start, "to": end}, token=token))["cardCounts"]
    assert found["cards"]["todayYellow"] == sum(c["yellowCards"] for c in cards)
    assert found["cards"]["todayRed"] == sum(c["redCards"] for c in cards)
    assert found["cards"]["openRed"] == sum(b["redCards"] for b in board)
    # The longest overdue: the case made 30 hours late heads the list.
    assert found["overdue"][0]["number"] == overdue["number"]
    assert 29.5 < found["overdue"][0]["overdueHours"] < 30.5
    assert sum(t["overdue"] for t in found["towns"]) >= 1
    # The map's cells: the overdue case's cell counts it.
    cell = overdue["gridCell"]
    if cell is not None:
        row = next(c for c in found["cells"] if c["id"] == cell["id"])
        assert row["overdue"] >= 1 and row["open"] >= 1
    # Devices: the demo's 28 points, none heard from in this fresh database.
    assert found["devices"]["points"] == 28
    assert len(found["devices"]["offlinePoints"]) == 28
    assert found["day"] == start[:10]
    assert all(a["aqi"] is None for a in found["air"])  # no hourly data yet


async def test_the_page_and_the_map_for_the_command_centre(hub: Hub) -> None:
    await account(hub, "d1", "DISPATCHER")
    async with client(hub) as http:
        await sign_in(http, "d1")
        page = await http.get("/console/board")
        assert page.status_code == 200
        assert "信息指挥中心" in page.text and "/console/static/board.js" in page.text
        assert "http://" not in page.text and "https://" not in page.text  # nothing from outside
        home = await http.get("/console/cases")
        assert 'href="/console/board"' in home.text and 'href="/console/monitoring"' in home.text
        geo = await http.get("/console/board/grid.geojson")
        assert geo.status_code == 200 and geo.headers["content-type"] == "application/geo+json"
        features = geo.json()["features"]
        towns = {f["properties"]["town"] for f in features}
        assert len(towns) > 1
        assert {f["properties"]["level"] for f in features} >= {2, 3}
        assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)


async def test_a_town_sees_its_town_only(hub: Hub) -> None:
    await seed_cases(hub)
    await account(hub, "op1", "OPERATOR", ["laiji"])
    found = await board_json(hub, "op1")
    assert [t["code"] for t in found["towns"]] == ["laiji"]
    towns = {o["town"] for o in found["overdue"]}
    assert towns <= {"来集镇"}
    assert {p["town"] for p in found["devices"]["offlinePoints"]} <= {"来集镇"}
    mine = (await hub.gql(BOARD, token=hub.token("OPERATOR", ["laiji"])))["supervisionBoard"]
    assert found["towns"][0]["open"] == mine[0]["open"]
    async with client(hub) as http:
        await sign_in(http, "op1")
        geo = (await http.get("/console/board/grid.geojson")).json()
        assert {f["properties"]["town"] for f in geo["features"]} == {"laiji"}


async def test_the_socket_token_is_read_only_short_lived_and_needs_csrf(hub: Hub) -> None:
    await account(hub, "op1", "OPERATOR", ["laiji"], display_name="来集网格办")
    async with client(hub) as http:
        await sign_in(http, "op1")
        page = await http.get("/console/board")
        refused = await http.post("/console/board/socket-token")
        assert refused.status_code == 403 and "CSRF" in refused.text
        forged = await http.post("/console/board/socket-token", headers={"X-CSRF-Token": "x"})
        assert forged.status_code == 403
        answer = await http.post(
            "/console/board/socket-token", headers={"X-CSRF-Token": meta_csrf(page.text)}
        )
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    token = answer.json()["token"]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["roles"] == ["VIEWER"] and claims["tenants"] == ["laiji"]
    assert claims["name"] == "来集网格办"
    assert claims["exp"] - claims["iat"] <= 15 * 60
    # It reads laiji's cases like the account, and changes nothing.
    mine = await hub.gql("query { cases(first: 50) { edges { node { tenant { code } } } } }",
                         token=token)  # fmt: skip
    assert {e["node"]["tenant"]["code"] for e in mine["cases"]["edges"]} <= {"laiji"}
    done = await hub.post(
        'mutation { registerCase(input: {channel: GRID, title: "x", description: "x", '
        "category: DUST}) { __typename ... on UserError { code } } }",
        token=token,
    )
    payload = done.json()
    assert "errors" in payload or payload["data"]["registerCase"]["__typename"] == "UserError"


async def test_not_signed_in_and_bad_requests(hub: Hub) -> None:
    async with client(hub) as http:
        for path in ("/console/board", "/console/board/data.json", "/console/board/grid.geojson"):
            answer = await http.get(path)
            assert answer.status_code == 303 and "/console/login" in answer.headers["location"]
        answer = await http.post("/console/board/socket-token")
        assert answer.status_code == 303
        bearer = await http.get(
            "/console/board/data.json", headers={"Authorization": "Bearer nonsense"}
        )
        assert bearer.status_code == 401
    # A kiosk's bearer token reads the figures without a cookie.
    kiosk = await hub.http.get(
        "/console/board/data.json", headers={"Authorization": f"Bearer {hub.token('VIEWER')}"}
    )
    assert kiosk.status_code == 200 and len(kiosk.json()["towns"]) > 1
    wrong = await hub.http.put(
        "/console/board/data.json", headers={"Authorization": f"Bearer {hub.token('VIEWER')}"}
    )
    assert wrong.status_code == 405


async def test_screens_share_one_computation_until_a_case_changes(hub: Hub) -> None:
    await account(hub, "d1", "DISPATCHER")
    await account(hub, "d2", "SUPERVISOR")
    async with client(hub) as one, client(hub) as two:
        await sign_in(one, "d1")
        await sign_in(two, "d2")
        first = (await one.get("/console/board/data.json")).json()
        again = (await two.get("/console/board/data.json")).json()
        assert again["generatedAt"] == first["generatedAt"]  # the same towns: shared
        await register(hub)  # a committed case change: the next request computes anew
        after = (await two.get("/console/board/data.json")).json()
        assert after["generatedAt"] != first["generatedAt"]
        hotline = {i["channel"]: i["count"] for i in after["intake"]}["HOTLINE"]
        assert hotline == {i["channel"]: i["count"] for i in first["intake"]}["HOTLINE"] + 1
    await account(hub, "op1", "OPERATOR", ["laiji"])
    async with client(hub) as town:
        await sign_in(town, "op1")
        mine = (await town.get("/console/board/data.json")).json()
        assert [t["code"] for t in mine["towns"]] == ["laiji"]  # never another scope's figures
