"""A number the caller speaks lands in free text (title, description, notes): viewers who see
masked phone numbers read it masked there too, and notifications (which are logged) never carry
it (issue 11, item 13)."""

from __future__ import annotations

import json
import logging
import re

import pytest
from sqlalchemy import select

from hub.notify import LogNotifier, Notification
from hub.outbox.model import OutboxMessage
from tests.conftest import Hub, register

TOWN = "laiji"
SPOKEN = "来电人 13812345678 反映扬尘"
SAID = "请回电 0371-62345678 或 138 1234 5678，厂区夜间扬尘"
REASON = "不属于环保，已告知 13812345678"
# Either number, in any grouping.
NUMBER = re.compile(r"1\D?3\D?8\D?1\D?2\D?3\D?4\D?5\D?6\D?7\D?8|0\D?3\D?7\D?1\D?6\D?2\D?3\D?4")
DETAIL = """query($id: ID!) { case(id: $id) { title description
  reports { title summary outcomeReason } timeline { note } } }"""
ISSUE_CARD = """mutation($caseId: ID!) { issueCard(caseId: $caseId, level: YELLOW, reason: "超时") {
  __typename ... on UserError { code message } } }"""
REJECT = """mutation($caseId: ID!, $reason: String!) {
  rejectCase(caseId: $caseId, reason: $reason) { __typename ... on UserError { code message } } }"""


async def _spoken_case(hub: Hub) -> str:
    done = await register(
        hub,
        hub.token("HOTLINE"),
        tenantCode=TOWN,
        externalId="spoken-1",
        title=SPOKEN,
        description=SAID,
        reporterPhone="13812345678",
    )
    return str(done["case"]["id"])


async def test_masked_viewers_read_numbers_in_free_text_masked(hub: Hub) -> None:
    case_id = await _spoken_case(hub)
    rejected = await hub.gql(REJECT, {"caseId": case_id, "reason": REASON})
    assert rejected["rejectCase"]["__typename"] == "CaseResult", rejected

    operator = await hub.gql(DETAIL, {"id": case_id}, token=hub.token("OPERATOR", [TOWN]))
    text = json.dumps(operator, ensure_ascii=False)
    assert not NUMBER.search(text), text
    case = operator["case"]
    assert case["title"] == "来电人 138****5678 反映扬尘"
    assert case["description"] == "请回电 037*****5678 或 138****5678，厂区夜间扬尘"
    assert case["reports"][0]["title"] == case["title"]
    assert case["reports"][0]["summary"] == case["description"]
    assert "不属于环保，已告知 138****5678" in [e["note"] for e in case["timeline"]]

    dispatcher = await hub.gql(DETAIL, {"id": case_id}, token=hub.token("DISPATCHER"))
    assert dispatcher["case"]["title"] == SPOKEN
    assert dispatcher["case"]["description"] == SAID
    assert REASON in [e["note"] for e in dispatcher["case"]["timeline"]]


async def test_a_card_notification_and_its_log_line_carry_no_number(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    case_id = await _spoken_case(hub)
    issued = await hub.gql(ISSUE_CARD, {"caseId": case_id})
    assert issued["issueCard"]["__typename"] == "CaseResult", issued

    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        rows = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify"))
        ).all()
    assert rows, "the card queued a notification"
    payloads = [row.payload for row in rows]
    assert any("138****5678" in p["text"] for p in payloads), payloads
    assert not NUMBER.search(json.dumps(payloads, ensure_ascii=False))

    caplog.set_level(logging.INFO, logger="hub.notify")
    for p in payloads:
        await LogNotifier().send(Notification(p["kind"], p["text"], p.get("data") or {}, "k"))
    # Whatever queued a notification, its log line masks numbers.
    await LogNotifier().send(Notification("test", SAID, {"note": SPOKEN}, "k2"))
    assert len(caplog.records) == len(payloads) + 1
    assert not NUMBER.search(caplog.text), caplog.text
