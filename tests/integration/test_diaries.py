"""Work diaries and spot checks through the live app, on both databases: a member writes their own
diary for today or yesterday with every edit kept, the day is built from their patrols, findings
and case steps, a SUPERVISOR or the town's OPERATOR checks a day once, and the town's members with
neither diary nor patrol on a working day are listed. Every refusal changes nothing."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from hub.db import utcnow
from hub.diaries.model import Diary, DiaryRevision, SpotCheck
from hub.grid.model import Member
from tests.conftest import Hub
from tests.helpers import snapshot
from tests.integration.test_people_work import (
    LAIJI_1,
    ago,
    assigned_case,
    finding,
    laiji_people,
    member_token,
    mutate,
)
from tests.operations import op

TZ = ZoneInfo("Asia/Shanghai")

REVISIONS = """query($memberId: ID!, $date: Date!) {
  workDiary(memberId: $memberId, date: $date) { text revisions { text writtenBy writtenAt } }
}"""

MISSING = """query($tenantCode: String, $from: Date!, $to: Date!) {
  missingDiaries(tenantCode: $tenantCode, from: $from, to: $to) {
    date member { id name tenantCode }
  }
}"""

SET_DAY = """mutation($code: String!, $day: Date!, $workday: Boolean!) {
  setWorkDay(tenantCode: $code, day: $day, workday: $workday, reason: "测试") { __typename }
}"""


def today() -> date:
    return utcnow().astimezone(TZ).date()


async def write(hub: Hub, token: str, day: date, text: str) -> dict[str, Any]:
    data = await hub.gql(op("WriteDiary"), {"date": day.isoformat(), "text": text}, token=token)
    return data["writeDiary"]


async def diary_of(hub: Hub, member_id: str, day: date, token: str | None = None) -> Any:
    variables = {"memberId": member_id, "date": day.isoformat()}
    return (await hub.gql(op("WorkDiary"), variables, token=token))["workDiary"]


async def check(hub: Hub, token: str, member_id: str, day: date, **fields: Any) -> dict[str, Any]:
    variables = {
        "memberId": member_id,
        "date": day.isoformat(),
        "result": "PASS",
        "note": "日记与巡查记录一致",
        **fields,
    }
    return (await hub.gql(op("SpotCheck"), variables, token=token))["spotCheck"]


async def refused(hub: Hub, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    response = await hub.post(query, variables, token=token)
    assert response.status_code == 200
    [error] = response.json()["errors"]
    return {"code": error["extensions"]["code"], "message": error["message"]}


async def rows(hub: Hub, model: type[Any]) -> int:
    async with hub.db.session([t.id for t in (await hub.scope()).directory.tenants]) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def audit_actions(hub: Hub, subject_id: str) -> list[str]:
    entries = (await hub.gql(op("AuditTrail"), {"subjectId": subject_id}))["auditTrail"]
    return [e["action"] for e in entries]


# --- writeDiary -------------------------------------------------------------------------------


async def test_a_member_writes_their_diary_and_every_edit_is_kept(hub: Hub) -> None:
    people = await laiji_people(hub)
    mine = people[LAIJI_1]
    token = member_token(mine)
    done = await write(hub, token, today(), "  上午走访李堂村三家企业  ")
    assert done == {
        "__typename": "DiaryResult",
        "diary": {"date": today().isoformat(), "text": "上午走访李堂村三家企业"},
    }
    await write(hub, token, today(), "上午走访李堂村三家企业，下午整理台账")
    again = await write(hub, token, today(), "上午走访李堂村三家企业，下午整理台账")  # a retry
    assert again["diary"]["text"] == "上午走访李堂村三家企业，下午整理台账"
    yesterday = today() - timedelta(days=1)
    await write(hub, token, yesterday, "补记：夜查一次")
    day = (await hub.gql(REVISIONS, {"memberId": mine["id"], "date": today().isoformat()}))[
        "workDiary"
    ]
    assert day["text"] == "上午走访李堂村三家企业，下午整理台账"
    assert [r["text"] for r in day["revisions"]] == [
        "上午走访李堂村三家企业",
        "上午走访李堂村三家企业，下午整理台账",
    ]
    assert (await diary_of(hub, mine["id"], yesterday, token))["text"] == "补记：夜查一次"
    assert await rows(hub, Diary) == 2 and await rows(hub, DiaryRevision) == 3
    async with hub.db.session([t.id for t in (await hub.scope()).directory.tenants]) as session:
        diary_id = await session.scalar(select(Diary.id).where(Diary.day == today()))
    # On the town's audit chain: one entry per new text, none for the retry.
    assert await audit_actions(hub, str(diary_id)) == ["diary.write", "diary.write"]
    audit = (await hub.gql(op("VerifyAudit"), {"tenantCode": "laiji"}))["verifyAuditTrail"]
    assert audit["ok"] is True


@pytest.mark.parametrize(
    ("days", "text", "code", "field", "says"),
    [
        (1, "明天的计划", "VALIDATION", "date", "不能填写未来"),
        (-2, "前天的", "VALIDATION", "date", "只能填写今天或昨天"),
        (-31, "上个月的", "VALIDATION", "date", "只能填写今天或昨天"),
        (0, "   ", "VALIDATION", "text", "不能为空"),
        (0, "长" * 5001, "VALIDATION", "text", "不能超过 5000"),
        (0, "含\x00空字符", "VALIDATION", "text", "空字符"),
    ],
)
async def test_write_diary_bad_input_changes_nothing(
    hub: Hub, days: int, text: str, code: str, field: str, says: str
) -> None:
    people = await laiji_people(hub)
    before = await snapshot(hub)
    done = await write(hub, member_token(people[LAIJI_1]), today() + timedelta(days=days), text)
    assert done["__typename"] == "UserError"
    assert (done["code"], done["field"]) == (code, field) and says in done["message"]
    assert await snapshot(hub) == before and await rows(hub, Diary) == 0


async def test_only_a_member_writes_and_only_their_own_diary(hub: Hub) -> None:
    people = await laiji_people(hub)
    mine = people[LAIJI_1]
    before = await snapshot(hub)
    # The town's office cannot write a member's diary; an unbound MEMBER token has no diary.
    for token in (hub.token("OPERATOR", ["laiji"]), hub.token("MEMBER", ["laiji"]), hub.admin):
        done = await write(hub, token, today(), "代写")
        assert done["code"] == "FORBIDDEN", done
    # A token claiming a member of a town it does not hold: that person is not there.
    foreign = member_token(mine, town="chaohua")
    assert (await write(hub, foreign, today(), "代写"))["code"] == "NOT_FOUND"
    assert await snapshot(hub) == before and await rows(hub, Diary) == 0


# --- workDiary --------------------------------------------------------------------------------


async def test_the_day_is_built_from_the_record(hub: Hub) -> None:
    people = await laiji_people(hub)
    mine = people[LAIJI_1]
    token = member_token(mine)
    started = await mutate(
        hub,
        "StartPatrol",
        token,
        input={"kind": "ROUTINE", "startedAt": ago(3), "clientId": "p-1"},
    )
    patrol_id = started["patrol"]["id"]
    found = await mutate(hub, "RecordFinding", token, patrolId=patrol_id, input=finding())
    on_site = await mutate(
        hub,
        "RecordFinding",
        token,
        patrolId=patrol_id,
        input=finding(
            clientId="f-2",
            title="河道漂浮垃圾",
            category="WATER",
            latitude=34.52,
            longitude=113.41,
            resolvedOnSite=True,
            result="已当场打捞",
        ),
    )
    ended = await mutate(
        hub, "EndPatrol", token, patrolId=patrol_id, summary="村内巡查一圈", endedAt=ago(0)
    )
    assert ended["__typename"] == "PatrolResult", ended
    case = await assigned_case(hub, mine)
    await mutate(hub, "AcceptCase", token, caseId=case["id"])
    await mutate(hub, "RecordProgress", token, caseId=case["id"], note="已到现场")
    await mutate(hub, "SubmitResult", token, caseId=case["id"], input={"result": "已督促整改"})
    # The town office's own step on the member's case is not the member's work.
    await mutate(hub, "RecordProgress", hub.token("OPERATOR", ["laiji"]), caseId=case["id"],
                 note="网格办跟进")  # fmt: skip
    await write(hub, token, today(), "巡查一次，办结一件")
    day = await diary_of(hub, mine["id"], today(), token)
    assert day["date"] == today().isoformat()
    assert day["member"] == {"id": mine["id"], "name": mine["name"]}
    assert day["text"] == "巡查一次，办结一件" and day["spotCheck"] is None
    kinds = [(e["kind"], e["caseNumber"]) for e in day["entries"]]
    number, on_site_number = found["case"]["number"], on_site["case"]["number"]
    assert kinds == [
        ("PATROL_STARTED", None),
        ("FINDING", number),
        ("RESOLVED_ON_SITE", on_site_number),
        ("PATROL_ENDED", None),
        ("CASE_ACCEPTED", case["number"]),
        ("PROGRESS", case["number"]),
        ("RESULT_SUBMITTED", case["number"]),
    ]
    summaries = [e["summary"] for e in day["entries"]]
    assert summaries[1] == f"巡查发现问题：路边焚烧垃圾，已上报（案件 {number}）"
    assert summaries[3].startswith("结束日常巡查，轨迹") and summaries[3].endswith("村内巡查一圈")
    assert summaries[5] == f"案件 {case['number']} 办理进展：已到现场"
    ats = [e["at"] for e in day["entries"]]
    assert ats == sorted(ats)
    # Another member's day shows none of it; the day before is empty.
    other = await diary_of(hub, people["laiji"]["id"], today())
    assert other["entries"] == [] and other["text"] is None
    before = await diary_of(hub, mine["id"], today() - timedelta(days=1), token)
    assert before["entries"] == [] and before["text"] is None


async def test_who_reads_a_day(hub: Hub) -> None:
    people = await laiji_people(hub)
    mine, other = people[LAIJI_1], people["laiji"]
    await write(hub, member_token(mine), today(), "今日巡查")
    variables = {"memberId": mine["id"], "date": today().isoformat()}
    for token in (
        member_token(mine),
        hub.token("OPERATOR", ["laiji"]),
        hub.token("SUPERVISOR"),
        hub.token("DISPATCHER"),
        hub.token("VIEWER"),
        hub.admin,
    ):
        day = (await hub.gql(op("WorkDiary"), variables, token=token))["workDiary"]
        assert day["text"] == "今日巡查"
    cases = [
        (member_token(other), "FORBIDDEN", "只能查看自己的工作日记"),
        (hub.token("OPERATOR", ["chaohua"]), "NOT_FOUND", "网格人员不存在"),
        (hub.token("HOTLINE"), "FORBIDDEN", "不能查看工作日记"),
        (hub.token("MONITOR"), "FORBIDDEN", "不能查看工作日记"),
    ]
    for token, code, says in cases:
        error = await refused(hub, op("WorkDiary"), variables, token)
        assert error["code"] == code and says in error["message"], (code, error)
    for unknown in (str(uuid.uuid4()), "not-an-id"):
        error = await refused(hub, op("WorkDiary"), {**variables, "memberId": unknown}, hub.admin)
        assert error["code"] == "NOT_FOUND"


# --- spotCheck --------------------------------------------------------------------------------


async def test_a_supervisor_checks_a_day_once(hub: Hub) -> None:
    people = await laiji_people(hub)
    mine = people[LAIJI_1]
    yesterday = today() - timedelta(days=1)
    supervisor = hub.token("SUPERVISOR", sub="sup-1")
    done = await check(hub, supervisor, mine["id"], yesterday)
    assert done["__typename"] == "SpotCheckResultPayload", done
    assert done["spotCheck"]["result"] == "PASS" and done["spotCheck"]["checkedBy"] == "sup-1"
    day = await diary_of(hub, mine["id"], yesterday, member_token(mine))
    assert day["spotCheck"]["note"] == "日记与巡查记录一致"
    # The same day again, by anyone: CONFLICT naming the first check; nothing changes.
    before = await snapshot(hub)
    again = await check(hub, hub.token("OPERATOR", ["laiji"]), mine["id"], yesterday, result="FAIL")
    assert again["code"] == "CONFLICT" and again["field"] == "date"
    assert "sup-1" in again["message"] and "合格" in again["message"]
    assert await snapshot(hub) == before and await rows(hub, SpotCheck) == 1
    # The town's office checks another day; it is on the town's audit chain.
    operator = hub.token("OPERATOR", ["laiji"])
    failed = await check(hub, operator, mine["id"], today(), result="FAIL", note="无巡查记录")
    assert failed["spotCheck"]["result"] == "FAIL"
    async with hub.db.session([t.id for t in (await hub.scope()).directory.tenants]) as session:
        ids = list(await session.scalars(select(SpotCheck.id).order_by(SpotCheck.day)))
    for check_id in ids:
        assert await audit_actions(hub, str(check_id)) == ["diary.spot_check"]


@pytest.mark.parametrize(
    ("who", "member", "days", "fields", "code", "field"),
    [
        ("OPERATOR:chaohua", "laiji", 0, {}, "NOT_FOUND", "memberId"),  # another town's member
        ("MEMBER", "laiji", 0, {}, "FORBIDDEN", None),
        ("MEMBER:self", "laiji", 0, {}, "FORBIDDEN", None),
        ("ADMIN", "laiji", 0, {}, "FORBIDDEN", None),
        ("DISPATCHER", "laiji", 0, {}, "FORBIDDEN", None),
        ("SUPERVISOR", "unknown", 0, {}, "NOT_FOUND", "memberId"),
        ("SUPERVISOR", "not-an-id", 0, {}, "NOT_FOUND", "memberId"),
        ("SUPERVISOR", "laiji", 1, {}, "VALIDATION", "date"),
        ("SUPERVISOR", "laiji", 0, {"result": "FAIL", "note": " "}, "VALIDATION", "note"),
        ("SUPERVISOR", "laiji", 0, {"note": "长" * 4001}, "VALIDATION", "note"),
    ],
)
async def test_spot_check_refusals_change_nothing(
    hub: Hub,
    who: str,
    member: str,
    days: int,
    fields: dict[str, Any],
    code: str,
    field: str | None,
) -> None:
    people = await laiji_people(hub)
    mine = people[LAIJI_1]
    member_id = {"laiji": mine["id"], "unknown": str(uuid.uuid4())}.get(member, member)
    role, _, town = who.partition(":")
    if town == "self":
        token = member_token(mine)
    else:
        token = hub.token(role, [town] if town else (["laiji"] if role == "MEMBER" else []))
    before = await snapshot(hub)
    done = await check(hub, token, member_id, today() + timedelta(days=days), **fields)
    assert done["__typename"] == "UserError" and done["code"] == code, done
    assert done["field"] == field
    assert await snapshot(hub) == before and await rows(hub, SpotCheck) == 0


# --- missingDiaries ---------------------------------------------------------------------------


async def test_members_with_no_diary_and_no_patrol_on_working_days(hub: Hub) -> None:
    people = await laiji_people(hub)
    writer, walker = people[LAIJI_1], people["laiji"]
    day, before = today(), today() - timedelta(days=1)
    for when, workday in ((day, True), (before, False)):
        await hub.gql(SET_DAY, {"code": "laiji", "day": when.isoformat(), "workday": workday})
    async with hub.db.session([t.id for t in (await hub.scope()).directory.tenants]) as session:
        # The demo's people were added today: make them older than the days asked about.
        await session.execute(update(Member).values(created_at=utcnow() - timedelta(days=10)))
        await session.commit()
        laiji = (await hub.scope()).directory.by_code["laiji"].id
        active = list(
            await session.scalars(
                select(Member.id).where(Member.tenant_id == laiji, Member.active.is_(True))
            )
        )
    await write(hub, member_token(writer), day, "写了日记")
    spec = {"kind": "ROUTINE", "startedAt": ago(1), "clientId": "p-1"}
    await mutate(hub, "StartPatrol", member_token(walker), input=spec)
    variables = {"tenantCode": "laiji", "from": before.isoformat(), "to": day.isoformat()}
    operator = hub.token("OPERATOR", ["laiji"])
    listed = (await hub.gql(MISSING, variables, token=operator))["missingDiaries"]
    assert {r["date"] for r in listed} == {day.isoformat()}  # the day before is not a workday
    assert {r["member"]["id"] for r in listed} == {str(m) for m in active} - {
        writer["id"],
        walker["id"],
    }
    assert all(r["member"]["tenantCode"] == "laiji" for r in listed)
    names = [r["member"]["name"] for r in listed]
    assert names == sorted(names)
    # Days to come are not counted; every town the caller sees without tenantCode.
    later = {**variables, "from": (day + timedelta(days=1)).isoformat(),
             "to": (day + timedelta(days=5)).isoformat()}  # fmt: skip
    assert (await hub.gql(MISSING, later, token=operator))["missingDiaries"] == []
    city = (await hub.gql(MISSING, {**variables, "tenantCode": None}))["missingDiaries"]
    assert {r["member"]["id"] for r in listed} <= {r["member"]["id"] for r in city}
    town_codes = {r["member"]["tenantCode"] for r in city}
    assert "laiji" in town_codes


@pytest.mark.parametrize(
    ("token_of", "variables", "code"),
    [
        ("OPERATOR:chaohua", {"tenantCode": "laiji"}, "VALIDATION"),
        ("MEMBER:laiji", {"tenantCode": "laiji"}, "FORBIDDEN"),
        ("ADMIN", {"tenantCode": "nowhere"}, "VALIDATION"),
        ("ADMIN", {"from": "2026-12-10", "to": "2026-12-01"}, "VALIDATION"),
        ("ADMIN", {"from": "2026-01-01", "to": "2026-12-31"}, "VALIDATION"),
    ],
)
async def test_missing_diaries_refusals(
    hub: Hub, token_of: str, variables: dict[str, Any], code: str
) -> None:
    role, _, town = token_of.partition(":")
    token = hub.token(role, [town] if town else [])
    query = {"tenantCode": None, "from": "2026-12-01", "to": "2026-12-03", **variables}
    error = await refused(hub, MISSING, query, token)
    assert error["code"] == code, error


# --- migration 0019 -----------------------------------------------------------------------------


async def test_the_migration_fills_in_the_members_of_api_token_steps(hub: Hub, db_url: str) -> None:
    """Steps taken before case events named their member: an API token bound to a member
    gives them back their steps (a JWT's cannot be known)."""
    import asyncio

    from alembic import command

    from hub.auth import create_token
    from hub.cases.model import Event
    from hub.demo import world
    from hub.migrations import alembic_config

    people = await laiji_people(hub)
    staff = next(m for m in world.MEMBERS if m.tenant == "laiji")
    row, token = await create_token(hub.db, "王", ["member"], ["laiji"], staff.external_id)
    member = next(m for m in people.values() if m["id"] == str(row.member_id))
    case = await assigned_case(hub, member)
    await mutate(hub, "AcceptCase", token, caseId=case["id"])
    everyone = [t.id for t in (await hub.scope()).directory.tenants]
    async with hub.db.session(everyone, write=True) as session, session.begin():
        await session.execute(update(Event).values(member_id=None))
    await hub.db.dispose()
    cfg = alembic_config(db_url)
    await asyncio.to_thread(command.downgrade, cfg, "0012_people_records")
    await asyncio.to_thread(command.upgrade, cfg, "head")
    async with hub.db.session(everyone) as session:
        found = (await session.execute(select(Event.action, Event.member_id))).all()
    assert ("ACCEPT", row.member_id) in found
    assert {m for a, m in found if a != "ACCEPT"} == {None}
    day = await diary_of(hub, member["id"], today())
    assert [e["kind"] for e in day["entries"]] == ["CASE_ACCEPTED"]
