"""The public view over real HTTP (uvicorn on loopback), on every backend: the hotline answer's
query code (stored hashed, the same on a repeated delivery), GET /public/cases/{number}?code=
and the /lookup page (status in words, the dates of each step, the reply), never a name, a
phone, an internal note or another case; a wrong number and a wrong code alike (404, one
body); wrong codes rate-limited per client address (429, Retry-After); lookups in /metrics."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hub.cases.model import Report
from hub.grid.model import Member
from hub.public import codes
from hub.tenancy.model import Tenant
from tests.conftest import Hub
from tests.helpers import HOTLINE_CALL
from tests.live import live_server

CALLER, PHONE, OTHER_PHONE = "王小明", "13812345678", "13987654321"
SECRET_WORDS = ("内部掌握", "老上访户", "督办意见")


@pytest.fixture
async def base(hub: Hub) -> AsyncIterator[str]:
    async with live_server(hub.app) as url:
        yield url


def client(base: str, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client whose requests come from ``address`` (any 127.x address is loopback)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base, transport=transport, timeout=10)


async def call(hub: Hub, http: httpx.AsyncClient, **changes: Any) -> httpx.Response:
    body = {**HOTLINE_CALL, **changes}
    token = hub.token("HOTLINE")
    return await http.post(
        "/ingest/hotline", json=body, headers={"Authorization": f"Bearer {token}"}
    )


async def mutate(hub: Hub, field: str, case_id: str, token: str | None = None) -> None:
    data = await hub.gql(
        f"mutation($id: ID!) {{ r: {field} {{ __typename ... on UserError {{ code message }} }} }}",
        {"id": case_id},
        token=token,
    )
    assert data["r"]["__typename"] == "CaseResult", (field, data)


async def a_member(hub: Hub) -> str:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        name = await session.scalar(
            select(Member.name)
            .join(Tenant, Tenant.id == Member.tenant_id)
            .where(Tenant.code == "laiji")
            .limit(1)
        )
    assert name
    return name


async def resolve_with_secrets(hub: Hub, case_id: str, staff: str) -> str:
    """Dispatch, accept, an internal note, an urge, a result naming people, approval."""
    await mutate(hub, 'dispatchCase(caseId: $id, input: {tenantCode: "laiji"})', case_id)
    await mutate(hub, "acceptCase(caseId: $id)", case_id)
    await mutate(
        hub, f'recordProgress(caseId: $id, note: "内部掌握：{CALLER} {PHONE} 是老上访户")', case_id
    )
    await mutate(hub, f'urgeCase(caseId: $id, note: "督办意见：{staff} 抓紧")', case_id)
    result = f"经查，{staff}到现场核实，已责令停产整改。来电人{CALLER}（{PHONE}）已知悉"
    await mutate(hub, f'submitResult(caseId: $id, input: {{result: "{result}"}})', case_id)
    await mutate(
        hub, "reviewCase(caseId: $id, input: {decision: APPROVE})", case_id, hub.token("SUPERVISOR")
    )
    return result


def no_leak(text: str, *extra: str) -> None:
    for secret in (CALLER, PHONE, PHONE[-4:] + "，", "138****", *SECRET_WORDS, *extra):
        assert secret not in text, secret
    assert "李四" not in text and OTHER_PHONE not in text
    assert "张三家" not in text


async def lookups(http: httpx.AsyncClient) -> dict[tuple[str, str], float]:
    text = (await http.get("/metrics")).text
    found = re.findall(
        r'^sanwang_public_lookups_total\{outcome="(\w+)",via="(\w+)"\} (\S+)$', text, re.M
    )
    return {(via, outcome): float(value) for outcome, via, value in found}


def delta(after: dict, before: dict, via: str, outcome: str) -> float:
    return after.get((via, outcome), 0.0) - before.get((via, outcome), 0.0)


# --- the query code -----------------------------------------------------------------------------


async def test_hotline_answer_has_a_query_code_kept_hashed(hub: Hub, base: str) -> None:
    async with client(base) as http:
        first = await call(hub, http)
        assert first.status_code == 201, first.text
        answer = first.json()
        code = answer["queryCode"]
        assert codes.well_formed(code) and not set(code) & set("01OIL")
        again = await call(hub, http)  # the same call delivered again
        assert again.status_code == 200 and again.json() == answer
        other = await call(hub, http, callId="12369-20261128-0002", callerPhone=OTHER_PHONE)
        assert other.json()["queryCode"] != code  # attached or not, a caller has their own
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        kept = list(await session.scalars(select(Report.query_code_hash)))
    assert len(kept) == 2 and all(re.fullmatch("[0-9a-f]{64}", k or "") for k in kept)
    assert not any(code in (k or "") for k in kept)


# --- the view -----------------------------------------------------------------------------------


async def test_public_view_shows_words_dates_and_reply_never_people(hub: Hub, base: str) -> None:
    staff = await a_member(hub)
    async with client(base) as http:
        made = (
            await call(
                hub,
                http,
                callerName=CALLER,
                callerPhone=PHONE,
                description=f"来集镇耐火材料厂扬尘严重，联系人李四 {OTHER_PHONE}，{CALLER}反映",
                address="来集镇张三家门口",
            )
        ).json()
        number, code = made["caseNumber"], made["queryCode"]
        fresh = await http.get(f"/public/cases/{number}", params={"code": code})
        assert fresh.status_code == 200, fresh.text
        view = fresh.json()
        assert view["status"] == "REGISTERED" and view["statusText"] == "已受理"
        assert [s["step"] for s in view["steps"]] == ["RECEIVED"] and view["reply"] is None
        assert fresh.headers["cache-control"] == "no-store"

        await resolve_with_secrets(hub, made["caseId"], staff)
        done = await http.get(f"/public/cases/{number}", params={"code": code.lower()})
        assert done.status_code == 200, done.text
        view = done.json()
        assert view["caseNumber"] == number and view["statusText"] == "已办结"
        assert view["category"] == "DUST" and view["categoryText"] == "扬尘"
        assert [s["step"] for s in view["steps"]] == [
            "RECEIVED",
            "DISPATCHED",
            "HANDLING",
            "RESOLVED",
        ]
        first = view["steps"][0]
        assert first["at"].endswith("+08:00") and re.fullmatch(
            r"\d{4}-\d\d-\d\d \d\d:\d\d", first["atLocal"]
        )
        assert "已责令停产整改" in view["reply"]["text"]
        assert set(view) == {
            "caseNumber", "status", "statusText", "category", "categoryText", "merged",
            "received", "updated", "steps", "reply",
        }  # fmt: skip
        no_leak(done.text, staff)

        page = await http.get("/lookup", params={"number": number, "code": code})
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        html = page.text
        assert "已办结" in html and "已责令停产整改" in html and number in html
        assert "<script" not in html and "http://" not in html and "https://" not in html
        no_leak(html, staff)
        css = await http.get("/public/static/lookup.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]


async def test_lookup_page_asks_for_number_and_code(hub: Hub, base: str) -> None:
    async with client(base) as http:
        empty = await http.get("/lookup")
        assert empty.status_code == 200
        assert 'name="number"' in empty.text and 'name="code"' in empty.text
        assert 'lang="zh-CN"' in empty.text and "viewport" in empty.text
        wrong = await http.get("/lookup", params={"number": "XM-2026-999999", "code": "ABCDEF"})
        assert wrong.status_code == 404 and "案件编号或查询码不正确" in wrong.text
        injected = await http.get("/lookup", params={"number": "<script>x</script>", "code": "x"})
        assert "<script>x" not in injected.text and "&lt;script&gt;" in injected.text


async def test_wrong_number_or_code_or_another_cases_code_answer_alike(hub: Hub, base: str) -> None:
    async with client(base) as http:
        one = (await call(hub, http)).json()
        two = (
            await call(
                hub,
                http,
                callId="12369-other",
                callerPhone=OTHER_PHONE,
                town="chaohua",
                category="NOISE",
                sourceName=None,
                latitude=None,
                longitude=None,
            )
        ).json()
        assert two["caseNumber"] != one["caseNumber"]
        bodies = set()
        for number, code in [
            (one["caseNumber"], two["queryCode"]),  # another case's code
            (two["caseNumber"], one["queryCode"]),
            (one["caseNumber"], "ABCDEF"),
            ("XM-2099-000001", one["queryCode"]),  # no such case
            (one["caseNumber"], ""),
            (one["caseNumber"], "0O1I"),  # not even a code
        ]:
            answer = await http.get(f"/public/cases/{number}", params={"code": code})
            assert answer.status_code == 404, (number, code, answer.text)
            bodies.add(answer.text)
        assert len(bodies) == 1
        assert (
            await http.get(f"/public/cases/{one['caseNumber']}?code={one['queryCode']}")
        ).json()["caseNumber"] == one["caseNumber"]


async def test_wrong_codes_are_rate_limited_per_address_and_counted(hub: Hub, base: str) -> None:
    limit = hub.settings.lookup_wrong_codes
    async with client(base) as http, client(base, "127.0.0.2") as neighbour:
        made = (await call(hub, http)).json()
        number, code = made["caseNumber"], made["queryCode"]
        before = await lookups(http)
        assert (await http.get(f"/public/cases/{number}", params={"code": code})).status_code == 200
        for _ in range(limit):
            wrong = await http.get(f"/public/cases/{number}", params={"code": "ABCDEF"})
            assert wrong.status_code == 404
        refused = await http.get(f"/public/cases/{number}", params={"code": code})
        assert refused.status_code == 429, refused.text
        assert 0 < int(refused.headers["retry-after"]) <= hub.settings.lookup_window_seconds
        assert refused.json()["errors"][0]["code"] == "RATE_LIMITED"
        page = await http.get("/lookup", params={"number": number, "code": code})
        assert page.status_code == 429 and "分钟后再试" in page.text
        assert "retry-after" in page.headers
        # Another address is not held back by this one's guesses.
        other = await neighbour.get(f"/public/cases/{number}", params={"code": code})
        assert other.status_code == 200
        after = await lookups(http)
    assert delta(after, before, "json", "ok") == 2
    assert delta(after, before, "json", "wrong") == limit
    assert delta(after, before, "json", "limited") == 1
    assert delta(after, before, "page", "limited") == 1


async def test_a_merged_case_shows_where_its_calls_went(hub: Hub, base: str) -> None:
    async with client(base) as http:
        one = (await call(hub, http)).json()
        two = (
            await call(
                hub,
                http,
                callId="12369-m2",
                callerPhone=OTHER_PHONE,
                sourceName=None,
                latitude=None,
                longitude=None,
            )
        ).json()
        assert two["caseNumber"] != one["caseNumber"]
        merged = await hub.gql(
            "mutation($a: ID!, $b: ID!) { mergeCase(caseId: $a, intoCaseId: $b) { __typename } }",
            {"a": one["caseId"], "b": two["caseId"]},
        )
        assert merged["mergeCase"]["__typename"] == "CaseResult"
        old = await http.get(
            f"/public/cases/{one['caseNumber']}", params={"code": one["queryCode"]}
        )
        assert old.status_code == 200, old.text
        assert old.json()["merged"] is True and old.json()["caseNumber"] == one["caseNumber"]
        assert old.json()["status"] == "REGISTERED"  # the case the call is handled in now
        # The code of a call on the other case does not open this number unless merged into it.
        wrong = await http.get(f"/public/cases/{one['caseNumber']}", params={"code": "ABCDEF"})
        assert wrong.status_code == 404
