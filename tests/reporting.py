"""A quarter of known activity for the reporting tests: every figure of the bulletin, the stats
and the case export can be worked out by hand from what is built here.

laiji   c1 HOTLINE closed on time; c2 PLATFORM open and overdue, a yellow card; c3 rejected.
niudian c4 a patrol finding solved on site (closed on time); c5 resolved late, a red card.
Joint actions: A on c1 and c2, B on c1 and c5 (laiji: 2 distinct, niudian: 1).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.cases.model import Case
from hub.db import utcnow
from hub.joint.model import JointAction, JointActionCase
from tests.conftest import Hub, register
from tests.operations import op

TZ = ZoneInfo("Asia/Shanghai")

# The hand-worked answer: town -> bulletin figures.
EXPECTED = {
    "laiji": {
        "found": 3,
        "solved": 1,
        "solvedOnSite": 0,
        "platformAssigned": 1,
        "jointActions": 2,
        "yellowCards": 1,
        "redCards": 0,
        "onTimeRate": 0.5,  # c1 on time / (1 resolved + 1 open overdue)
        "rank": 1,  # 0.5 as niudian, but no red card
    },
    "niudian": {
        "found": 2,
        "solved": 2,
        "solvedOnSite": 1,
        "platformAssigned": 0,
        "jointActions": 1,
        "yellowCards": 0,
        "redCards": 1,
        "onTimeRate": 0.5,  # c4 on time, c5 late
        "rank": 2,
    },
}


def quarter_now() -> str:
    now = datetime.now(TZ)
    return f"{now.year}Q{(now.month - 1) // 3 + 1}"


async def _patch(hub: Hub, case_id: str, **values: Any) -> None:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids, write=True) as session:
        case = await session.get(Case, uuid.UUID(case_id))
        assert case is not None
        for name, value in values.items():
            setattr(case, name, value)
        await session.commit()


async def _solved_on_site(hub: Hub) -> str:
    """A niudian member's patrol finding closed on site, through the live app."""
    from hub.auth import issue_jwt
    from tests.conftest import SECRET

    members = (await hub.gql(op("Members"), {"tenantCode": "niudian"}))["members"]
    member = members[0]
    token = issue_jwt(
        SECRET, f"m-{member['id']}", ["MEMBER"], ["niudian"], member=uuid.UUID(member["id"])
    )
    at = (utcnow() - timedelta(minutes=30)).isoformat()
    started = await hub.gql(
        op("StartPatrol"),
        {"input": {"kind": "ROUTINE", "startedAt": at, "clientId": "p-1"}},
        token=token,
    )
    patrol = started["startPatrol"]["patrol"]
    finding = {
        "title": "路边焚烧垃圾",
        "description": "村口有人焚烧生活垃圾",
        "category": "AIR",
        "clientId": "f-1",
        "resolvedOnSite": True,
        "result": "已劝阻并扑灭",
    }
    found = await hub.gql(
        op("RecordFinding"), {"patrolId": patrol["id"], "input": finding}, token=token
    )
    case = found["recordFinding"]["case"]
    assert case["status"] == "CLOSED", found
    return str(case["id"])


async def _case(
    hub: Hub, town: str, external: str, title: str, category: str, channel: str = "HOTLINE"
) -> str:
    made = await register(
        hub,
        tenantCode=town,
        externalId=external,
        title=title,
        description=f"{title}（{external}）",
        category=category,
        channel=channel,
        reporterPhone="13812345678",
    )
    assert made["duplicateOf"] is None, made
    return str(made["case"]["id"])


async def build_quarter(hub: Hub) -> dict[str, str]:
    """The cases above; their ids by name."""
    now = utcnow()
    ids: dict[str, str] = {}
    ids["c1"] = await _case(hub, "laiji", "c1", "夜间扬尘", "DUST")
    ids["c2"] = await _case(hub, "laiji", "P-2", "河道排污", "WATER", channel="PLATFORM")
    ids["c3"] = await _case(hub, "laiji", "c3", "工地噪声", "NOISE")
    ids["c4"] = await _solved_on_site(hub)
    ids["c5"] = await _case(hub, "niudian", "c5", "露天烧烤油烟", "AIR")
    for case, level in (("c2", "YELLOW"), ("c5", "RED")):
        carded = await hub.gql(
            op("IssueCard"), {"caseId": ids[case], "level": level, "reason": "逾期未办结"}
        )
        assert carded["issueCard"]["__typename"] == "CaseResult", carded
    rejected = await hub.gql(op("RejectCase"), {"caseId": ids["c3"], "reason": "重复举报"})
    assert rejected["rejectCase"]["case"]["status"] == "REJECTED", rejected
    done = now - timedelta(hours=1)
    later = now + timedelta(days=1)
    await _patch(hub, ids["c1"], status="CLOSED", resolved_at=done, closed_at=done, due_at=later)
    await _patch(hub, ids["c2"], due_at=now - timedelta(hours=1))
    await _patch(hub, ids["c4"], due_at=later)
    await _patch(
        hub, ids["c5"], status="RESOLVED", resolved_at=done, due_at=now - timedelta(hours=2)
    )
    scope = await hub.scope()
    towns = {t.code: t.id for t in scope.directory.tenants}
    async with hub.db.session(scope.tenant_ids, write=True) as session:
        for name, cases in (
            ("A", [("c1", "laiji"), ("c2", "laiji")]),
            ("B", [("c1", "laiji"), ("c5", "niudian")]),
        ):
            action = JointAction(
                tenant_id=towns[cases[0][1]],
                at=now,
                departments=["生态环境局", "城管局"],
                note=f"联合执法 {name}",
                recorded_by="测试",
            )
            session.add(action)
            await session.flush()
            for case, town in cases:
                session.add(
                    JointActionCase(
                        tenant_id=towns[town],
                        action_id=action.id,
                        case_id=uuid.UUID(ids[case]),
                        at=now,
                    )
                )
        await session.commit()
    return ids
