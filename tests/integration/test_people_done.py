"""Issue 13's "done when", end to end through the live app: a patrol with a finding solved on
site shows on the case, in the member's diary and in the month's evaluation figures."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.conftest import Hub
from tests.integration.test_people_work import (
    LAIJI_1,
    ago,
    finding,
    laiji_people,
    member_token,
    mutate,
    start,
)
from tests.operations import op

TZ = ZoneInfo("Asia/Shanghai")


async def test_a_finding_solved_on_site_shows_on_the_case_the_diary_and_the_month(
    hub: Hub,
) -> None:
    mine = (await laiji_people(hub))[LAIJI_1]
    token = member_token(mine)
    patrol = (await start(hub, token, client_id="done-1", startedAt=ago(1)))["patrol"]
    spec = finding(resolvedOnSite=True, result="已当场劝阻并清理", clientId="done-f")
    case = (await mutate(hub, "RecordFinding", token, patrolId=patrol["id"], input=spec))["case"]
    # The case: registered and closed at once, both steps on its timeline.
    detail = (await hub.gql(op("CaseDetail"), {"id": case["id"]}))["case"]
    assert detail["status"] == "CLOSED" and detail["channels"] == ["GRID"]
    assert [e["action"] for e in detail["timeline"]] == ["REGISTER", "RESOLVED_ON_SITE"]
    # The diary: the day as the hub recorded it.
    today = datetime.now(TZ).date()
    day = await hub.gql(
        op("WorkDiary"), {"memberId": mine["id"], "date": today.isoformat()}, token=token
    )
    entries = day["workDiary"]["entries"]
    kinds = [e["kind"] for e in entries]
    assert "PATROL_STARTED" in kinds and "RESOLVED_ON_SITE" in kinds
    solved = next(e for e in entries if e["kind"] == "RESOLVED_ON_SITE")
    assert solved["caseNumber"] == case["number"]
    # The month's figures: one patrol, one finding, solved on site, for this member only.
    month = today.strftime("%Y-%m")
    rows = (await hub.gql(op("MonthlyEvaluation"), {"month": month, "tenantCode": "laiji"}))[
        "monthlyEvaluation"
    ]["rows"]
    row = next(r for r in rows if r["member"]["id"] == mine["id"])
    assert (row["patrols"], row["findings"], row["solvedOnSite"]) == (1, 1, 1)
    others = [r for r in rows if r["member"]["id"] != mine["id"]]
    assert all(r["solvedOnSite"] == 0 for r in others)
    points = {b["key"]: b for b in row["breakdown"]}
    assert any(b["value"] == 1 and b["points"] > 0 for b in points.values())
