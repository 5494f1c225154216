"""Ledgers (台账) through the live app, on both databases: opening numbered per town and year,
progress, closing (销号) with its rules, the list and its filters, myWork, the time-limit sweep
carding an overdue item once (same run and notifications as cases), the workbook export, and
every bad input refused with nothing half-written."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from hub.audit.model import AuditEntry
from hub.db import utcnow
from hub.joint.model import JointAction, JointActionCase
from hub.ledgers.model import LedgerCounter, LedgerItem, LedgerProgress
from hub.outbox.model import OutboxMessage
from hub.sources.model import Source
from tests.conftest import Hub, register
from tests.helpers import sweep_at
from tests.integration.test_people_work import laiji_people, member_token
from tests.operations import op

LAIJI_OPERATOR = ("OPERATOR", ["laiji"])


def today(hub: Hub) -> date:
    return utcnow().astimezone(hub.app.state.runtime.tz).date()


async def source_of(hub: Hub, town: str) -> str:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        tenant = scope.directory.by_code[town].id
        found = await session.scalar(
            select(Source.id).where(Source.tenant_id == tenant).order_by(Source.name).limit(1)
        )
    assert found is not None
    return str(found)


async def state(hub: Hub) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        counts = {
            model.__name__: await session.scalar(select(func.count()).select_from(model))
            for model in (LedgerItem, LedgerProgress, JointAction, JointActionCase, AuditEntry)
        }
        counts["counters"] = await session.scalar(select(func.sum(LedgerCounter.value)))
        counts["items"] = [
            (i.number, i.status, i.percent, i.verification)
            for i in await session.scalars(select(LedgerItem).order_by(LedgerItem.number))
        ]
    return counts


def item_input(hub: Hub, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "RECTIFICATION",
        "tenantCode": "laiji",
        "title": "料场未覆盖",
        "description": "宏达耐火材料厂原料堆场未全覆盖，扬尘明显",
        "measures": ["堆场全覆盖", "出入口设置洗车平台"],
        "deadline": (today(hub) + timedelta(days=10)).isoformat(),
        **fields,
    }


async def open_item(hub: Hub, token: str | None = None, **fields: Any) -> dict[str, Any]:
    done = (await hub.gql(op("OpenLedgerItem"), {"input": item_input(hub, **fields)}, token=token))[
        "openLedgerItem"
    ]
    assert done["__typename"] == "LedgerItemResult", done
    return dict(done["item"])


async def items(hub: Hub, token: str | None = None, **flt: Any) -> list[dict[str, Any]]:
    data = await hub.gql(op("LedgerItems"), {"filter": flt or None, "first": 50}, token=token)
    return [e["node"] for e in data["ledgerItems"]["edges"]]


async def test_open_progress_close_numbered_per_town_and_year(hub: Hub) -> None:
    people = await laiji_people(hub)
    member = next(iter(people.values()))
    source = await source_of(hub, "laiji")
    case = (await register(hub, tenantCode="laiji"))["case"]
    operator = hub.token(*LAIJI_OPERATOR)
    year = today(hub).year
    first = await open_item(
        hub, operator, responsibleMemberId=member["id"], sourceId=source, caseId=case["id"]
    )
    assert first["number"] == f"TZ-{year}-0001"
    assert (first["kind"], first["status"], first["percent"]) == ("RECTIFICATION", "OPEN", 0)
    second = await open_item(hub, kind="PROBLEM", title="河道异味")
    assert second["number"] == f"TZ-{year}-0002"
    other = await open_item(hub, tenantCode="chaohua")
    assert other["number"] == f"TZ-{year}-0001", "numbered per town"

    done = await hub.gql(
        op("RecordLedgerProgress"),
        {"itemId": first["id"], "note": "已覆盖一半", "percent": 40},
        token=member_token(member),
    )
    assert done["recordLedgerProgress"]["item"] == {
        "id": first["id"],
        "status": "OPEN",
        "percent": 40,
    }
    done = await hub.gql(
        op("RecordLedgerProgress"),
        {"itemId": first["id"], "note": "洗车平台已建成", "percent": 80},
        token=operator,
    )
    assert done["recordLedgerProgress"]["item"]["percent"] == 80

    [row] = await items(hub, operator, kinds=["RECTIFICATION"])
    assert row["number"] == first["number"] and row["tenantCode"] == "laiji"
    assert row["source"]["id"] == source and row["responsible"]["id"] == member["id"]
    assert row["measures"] == ["堆场全覆盖", "出入口设置洗车平台"]
    assert (row["overdue"], row["card"]) == (False, "NONE")
    assert [(p["note"], p["percent"]) for p in row["progress"]] == [
        ("已覆盖一半", 40),
        ("洗车平台已建成", 80),
    ]

    closed = await hub.gql(
        op("CloseLedgerItem"),
        {"itemId": first["id"], "verification": "现场核查，堆场已全覆盖"},
        token=operator,
    )
    item = closed["closeLedgerItem"]["item"]
    assert item["status"] == "CLOSED" and item["closedAt"]
    [row] = await items(hub, operator, statuses=["CLOSED"])
    assert (row["id"], row["percent"]) == (first["id"], 100)
    assert len(await items(hub, operator, statuses=["OPEN"])) == 1, "laiji's other item"

    trail = (await hub.gql(op("AuditTrail"), {"subjectId": first["id"]}))["auditTrail"]
    assert [e["action"] for e in trail] == [
        "ledger.opened",
        "ledger.progress",
        "ledger.progress",
        "ledger.closed",
    ]
    verified = (await hub.gql(op("VerifyAudit"), {"tenantCode": "laiji"}))["verifyAuditTrail"]
    assert verified["ok"] is True


async def test_filters_and_who_sees_what(hub: Hub) -> None:
    people = await laiji_people(hub)
    mine, other = list(people.values())[:2]
    source = await source_of(hub, "laiji")
    a = await open_item(hub, responsibleMemberId=mine["id"], sourceId=source)
    b = await open_item(hub, kind="PROBLEM", responsibleMemberId=other["id"])
    c = await open_item(hub, tenantCode="chaohua")
    ids = lambda rows: {r["id"] for r in rows}  # noqa: E731
    assert ids(await items(hub)) == {a["id"], b["id"], c["id"]}
    assert ids(await items(hub, tenantCodes=["laiji"])) == {a["id"], b["id"]}
    assert ids(await items(hub, kinds=["PROBLEM"])) == {b["id"]}
    assert ids(await items(hub, sourceId=source)) == {a["id"]}
    assert ids(await items(hub, hub.token("OPERATOR", ["chaohua"]))) == {c["id"]}
    assert ids(await items(hub, member_token(mine))) == {a["id"]}, "a member sees their own"
    assert ids(await items(hub, hub.token("MEMBER", ["laiji"]))) == set(), "unbound: none"
    # Days pass: a's deadline was yesterday.
    await set_deadline(hub, a["id"], today(hub) - timedelta(days=1))
    assert ids(await items(hub, overdue=True)) == {a["id"]}
    assert ids(await items(hub, overdue=False)) == {b["id"], c["id"]}
    data = await hub.gql(op("LedgerItems"), {"first": 2})
    assert data["ledgerItems"]["totalCount"] == 3
    assert data["ledgerItems"]["pageInfo"]["hasNextPage"] is True
    after = data["ledgerItems"]["pageInfo"]["endCursor"]
    rest = await hub.gql(op("LedgerItems"), {"first": 2, "after": after})
    seen = [e["node"]["id"] for e in data["ledgerItems"]["edges"]]
    seen += [e["node"]["id"] for e in rest["ledgerItems"]["edges"]]
    assert sorted(seen) == sorted([a["id"], b["id"], c["id"]])
    response = await hub.post(op("LedgerItems"), {}, token=hub.token("HOTLINE"))
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def set_deadline(hub: Hub, item_id: str, deadline: date) -> None:
    """Time passes: the item's deadline is now ``deadline`` (opening refuses past days)."""
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids, write=True) as session:
        await session.execute(
            update(LedgerItem).where(LedgerItem.id == uuid.UUID(item_id)).values(deadline=deadline)
        )
        await session.commit()


async def test_my_work_lists_the_members_open_items(hub: Hub) -> None:
    people = await laiji_people(hub)
    mine, other = list(people.values())[:2]
    later = await open_item(hub, responsibleMemberId=mine["id"])
    sooner = await open_item(
        hub, responsibleMemberId=mine["id"], deadline=today(hub).isoformat(), title="今日到期"
    )
    done = await open_item(hub, responsibleMemberId=mine["id"])
    await open_item(hub, responsibleMemberId=other["id"])
    await hub.gql(op("CloseLedgerItem"), {"itemId": done["id"], "verification": "已核查"})
    work = (await hub.gql(op("MyWork"), token=member_token(mine)))["myWork"]
    assert [i["id"] for i in work["ledgerItems"]] == [sooner["id"], later["id"]]
    assert work["ledgerItems"][0] == {
        "id": sooner["id"],
        "number": sooner["number"],
        "title": "今日到期",
        "deadline": today(hub).isoformat(),
        "status": "OPEN",
    }


# --- bad input: refused, named, nothing written --------------------------------------------------


async def refused(hub: Hub, name: str, variables: dict[str, Any], token: str | None = None) -> dict:
    before = await state(hub)
    data = await hub.gql(op(name), variables, token=token)
    answer = next(iter(data.values()))
    assert answer["__typename"] == "UserError", answer
    assert answer["message"] and not answer["message"].isascii(), "a Chinese message"
    assert await state(hub) == before, "nothing half-written"
    return dict(answer)


@pytest.mark.parametrize(
    ("fields", "token", "code", "field"),
    [
        ({"deadline": "YESTERDAY"}, None, "VALIDATION", "deadline"),
        ({"deadline": "2999-01-01"}, None, "VALIDATION", "deadline"),
        ({"title": "  "}, None, "VALIDATION", "title"),
        ({"measures": []}, None, "VALIDATION", "measures"),
        ({"measures": [" "]}, None, "VALIDATION", "measures"),
        ({"tenantCode": "nowhere"}, None, "VALIDATION", "tenantCode"),
        ({"tenantCode": "chaohua"}, LAIJI_OPERATOR, "FORBIDDEN", "tenantCode"),
        ({"sourceId": "OTHER_TOWN"}, None, "NOT_FOUND", "sourceId"),
        ({"sourceId": str(uuid.uuid4())}, None, "NOT_FOUND", "sourceId"),
        ({"caseId": "OTHER_TOWN"}, None, "NOT_FOUND", "caseId"),
        ({"caseId": "not-an-id"}, None, "NOT_FOUND", "caseId"),
        ({"responsibleMemberId": "OTHER_TOWN"}, None, "NOT_FOUND", "responsibleMemberId"),
        ({"responsibleMemberId": str(uuid.uuid4())}, None, "NOT_FOUND", "responsibleMemberId"),
        ({}, ("MEMBER", ["laiji"]), "FORBIDDEN", None),
        ({}, ("HOTLINE", []), "FORBIDDEN", None),
    ],
)
async def test_opening_refuses_bad_input(
    hub: Hub, fields: dict[str, Any], token: tuple[str, list[str]] | None, code: str, field: str
) -> None:
    await open_item(hub)  # a counter already taken: a refusal must not move it
    values = dict(fields)
    if values.get("deadline") == "YESTERDAY":
        values["deadline"] = (today(hub) - timedelta(days=1)).isoformat()
    if values.get("sourceId") == "OTHER_TOWN":
        values["sourceId"] = await source_of(hub, "chaohua")
    if values.get("caseId") == "OTHER_TOWN":
        values["caseId"] = (await register(hub, tenantCode="chaohua"))["case"]["id"]
    if values.get("responsibleMemberId") == "OTHER_TOWN":
        rows = (await hub.gql(op("Members"), {"tenantCode": "chaohua"}))["members"]
        values["responsibleMemberId"] = rows[0]["id"]
    answer = await refused(
        hub,
        "OpenLedgerItem",
        {"input": item_input(hub, **values)},
        hub.token(*token) if token else None,
    )
    assert (answer["code"], answer["field"]) == (code, field)


async def test_progress_and_closing_refuse_bad_input(hub: Hub) -> None:
    people = await laiji_people(hub)
    mine, other = list(people.values())[:2]
    item = await open_item(hub, responsibleMemberId=mine["id"])
    operator = hub.token(*LAIJI_OPERATOR)
    progress = {"itemId": item["id"], "note": "进展", "percent": 50}
    for percent in (120, -1, 101):
        answer = await refused(hub, "RecordLedgerProgress", {**progress, "percent": percent})
        assert (answer["code"], answer["field"]) == ("VALIDATION", "percent")
    answer = await refused(hub, "RecordLedgerProgress", {**progress, "note": " "})
    assert (answer["code"], answer["field"]) == ("VALIDATION", "note")
    answer = await refused(hub, "RecordLedgerProgress", progress, member_token(other))
    assert (answer["code"], answer["field"]) == ("FORBIDDEN", "itemId"), "not their item"
    chaohua = hub.token("OPERATOR", ["chaohua"])
    answer = await refused(hub, "RecordLedgerProgress", progress, chaohua)
    assert answer["code"] == "NOT_FOUND", "another town's item does not exist"
    answer = await refused(hub, "RecordLedgerProgress", {**progress, "itemId": str(uuid.uuid4())})
    assert (answer["code"], answer["field"]) == ("NOT_FOUND", "itemId")

    close = {"itemId": item["id"], "verification": "已核查"}
    for empty in ("", "   "):
        answer = await refused(hub, "CloseLedgerItem", {**close, "verification": empty}, operator)
        assert (answer["code"], answer["field"]) == ("VALIDATION", "verification")
    # The responsible member: never, even with an office role on their login.
    answer = await refused(hub, "CloseLedgerItem", close, member_token(mine))
    assert answer["code"] == "FORBIDDEN"
    as_office = hub.token("OPERATOR", ["laiji"], member=mine["id"])
    answer = await refused(hub, "CloseLedgerItem", close, as_office)
    assert (answer["code"], answer["field"]) == ("FORBIDDEN", "itemId")
    assert "责任人" in answer["message"]
    answer = await refused(hub, "CloseLedgerItem", close, hub.token("DISPATCHER"))
    assert answer["code"] == "FORBIDDEN"
    answer = await refused(hub, "CloseLedgerItem", close, chaohua)
    assert answer["code"] == "NOT_FOUND"

    done = await hub.gql(op("CloseLedgerItem"), close, token=operator)
    assert done["closeLedgerItem"]["item"]["status"] == "CLOSED"
    answer = await refused(hub, "CloseLedgerItem", close, operator)
    assert (answer["code"], answer["field"]) == ("INVALID_TRANSITION", "itemId"), "closing twice"
    answer = await refused(hub, "RecordLedgerProgress", progress, member_token(mine))
    assert (answer["code"], answer["field"]) == ("INVALID_TRANSITION", "itemId")
    answer = await refused(hub, "RecordLedgerProgress", progress, operator)
    assert answer["code"] == "INVALID_TRANSITION", "progress on a closed item"


# --- the sweep ------------------------------------------------------------------------------------


async def ledger_notes(hub: Hub) -> list[dict[str, Any]]:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify"))
        return [r.payload for r in rows if r.payload["kind"] == "ledger.carded"]


async def test_the_sweep_cards_an_overdue_item_once_per_level(hub: Hub) -> None:
    people = await laiji_people(hub)
    member = next(iter(people.values()))
    item = await open_item(hub, responsibleMemberId=member["id"], deadline=today(hub).isoformat())
    tz = hub.app.state.runtime.tz
    yellow = datetime.combine(today(hub) + timedelta(days=1), time(0, 0), tzinfo=tz)
    assert await sweep_at(hub, "laiji", yellow - timedelta(minutes=1)) == 0, "on time all day"
    assert await sweep_at(hub, "laiji", yellow + timedelta(minutes=1)) == 1
    assert await sweep_at(hub, "laiji", yellow + timedelta(minutes=2)) == 0, "twice: nothing"
    [row] = await items(hub)
    assert row["card"] == "YELLOW"
    later = yellow + timedelta(days=20)  # past red whatever the holidays
    results = await asyncio.gather(*(sweep_at(hub, "laiji", later) for _ in range(3)))
    assert sum(results) == 1, "red once, however many sweeps run at once"
    assert await sweep_at(hub, "laiji", later + timedelta(days=1)) == 0
    [row] = await items(hub)
    assert row["card"] == "RED"
    notes = await ledger_notes(hub)
    assert sorted(n["data"]["level"] for n in notes) == ["RED", "YELLOW"], "one note a level"
    text = next(n["text"] for n in notes if n["data"]["level"] == "YELLOW")
    assert item["number"] in text and "来集镇" in text and member["name"] in text
    assert "黄牌" in text and today(hub).isoformat() in text
    trail = (await hub.gql(op("AuditTrail"), {"subjectId": item["id"]}))["auditTrail"]
    assert [e["action"] for e in trail].count("ledger.carded") == 2
    # A closed item is carded no more; another town's sweep does not touch laiji's items.
    fresh = await open_item(hub, deadline=today(hub).isoformat())
    await hub.gql(op("CloseLedgerItem"), {"itemId": fresh["id"], "verification": "已核查"})
    assert await sweep_at(hub, "chaohua", later) == 0
    assert await sweep_at(hub, "laiji", later + timedelta(days=2)) == 0


async def test_an_item_found_past_red_gets_both_cards_in_one_sweep(hub: Hub) -> None:
    await open_item(hub, tenantCode="dawei", deadline=today(hub).isoformat())
    assert await sweep_at(hub, "dawei", utcnow() + timedelta(days=30)) == 2
    assert sorted(n["data"]["level"] for n in await ledger_notes(hub)) == ["RED", "YELLOW"]


# --- the workbook ---------------------------------------------------------------------------------


async def test_the_ledger_workbook(hub: Hub) -> None:
    people = await laiji_people(hub)
    member = next(iter(people.values()))
    item = await open_item(
        hub, responsibleMemberId=member["id"], sourceId=await source_of(hub, "laiji")
    )
    await hub.gql(
        op("RecordLedgerProgress"), {"itemId": item["id"], "note": "已覆盖一半", "percent": 50}
    )
    other = await open_item(hub, tenantCode="chaohua", title="超化料场")
    response = await hub.http.get(
        "/exports/ledger.xlsx", headers={"Authorization": f"Bearer {hub.token(*LAIJI_OPERATOR)}"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    assert book.sheetnames == ["台账", "进展记录"]
    rows = list(book["台账"].iter_rows(values_only=True))
    heading = rows[0]
    assert heading[:4] == ("台账编号", "类型", "乡镇", "标题")
    assert [r[0] for r in rows[1:]] == [item["number"]], "only the caller's town"
    line = dict(zip(heading, rows[1], strict=True))
    assert line["类型"] == "限期整改" and line["乡镇"] == "来集镇"
    assert line["责任人"] == member["name"] and line["完成进度（%）"] == 50
    assert line["状态"] == "未销号" and line["是否逾期"] == "否"
    assert line["整改期限"] == (today(hub) + timedelta(days=10)).isoformat()
    opened = datetime.strptime(line["建立时间"], "%Y-%m-%d %H:%M")
    local_now = utcnow().astimezone(hub.app.state.runtime.tz).replace(tzinfo=None)
    assert abs(opened - local_now) < timedelta(minutes=5), "local time"
    steps = list(book["进展记录"].iter_rows(values_only=True))
    assert steps[0] == ("台账编号", "时间", "进展情况", "完成进度（%）", "记录人")
    assert [(s[0], s[2], s[3]) for s in steps[1:]] == [(item["number"], "已覆盖一半", 50)]
    book.close()

    everything = await hub.http.get(
        "/exports/ledger.xlsx", headers={"Authorization": f"Bearer {hub.admin}"}
    )
    book = load_workbook(io.BytesIO(everything.content), read_only=True)
    numbers = {r[0] for r in list(book["台账"].iter_rows(values_only=True))[1:]}
    assert len(numbers) == 1 and other["number"] == item["number"], "two towns, same number"
    assert len(list(book["台账"].iter_rows(values_only=True))) == 3
    book.close()

    assert (await hub.http.get("/exports/ledger.xlsx")).status_code == 401
    bad = {"Authorization": "Bearer nonsense"}
    assert (await hub.http.get("/exports/ledger.xlsx", headers=bad)).status_code == 401
    hotline = {"Authorization": f"Bearer {hub.token('HOTLINE')}"}
    assert (await hub.http.get("/exports/ledger.xlsx", headers=hotline)).status_code == 403


async def test_openings_at_once_take_distinct_numbers(hub: Hub) -> None:
    operator = hub.token(*LAIJI_OPERATOR)
    opened = await asyncio.gather(*(open_item(hub, operator, title=f"问题{i}") for i in range(4)))
    year = today(hub).year
    assert sorted(o["number"] for o in opened) == [f"TZ-{year}-000{i}" for i in range(1, 5)]
