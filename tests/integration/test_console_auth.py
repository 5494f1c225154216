"""Console sign-in: sessions by signed cookie, CSRF on every form, lock-out, expiry, bearer
tokens, and the same permissions as the API (on both databases)."""

from __future__ import annotations

import time

from itsdangerous import TimestampSigner

from hub.accounts.service import set_password
from hub.accounts.service import sign_in as sign_in_service
from hub.console.app import session_key
from hub.demo.accounts import ensure_demo_accounts
from tests.conftest import SECRET, register
from tests.console import PASSWORD, account, client, csrf_of, post_form, sign_in


async def test_sign_in_sets_a_hardened_cookie_and_opens_the_queue(hub) -> None:
    await account(hub, "zhang.dispatch", "DISPATCHER", display_name="张调度")
    async with client(hub) as http:
        first = await http.get("/console/cases")
        assert first.status_code == 303
        assert first.headers["location"].startswith("/console/login?next=/console/cases")
        done = await sign_in(http, "zhang.dispatch")
        assert done.status_code == 303, done.text
        cookie = done.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie
        queue = await http.get("/console/cases")
        assert queue.status_code == 200
        assert "张调度" in queue.text and "案件办理" in queue.text
        home = await http.get("/console/")
        assert home.status_code == 303 and home.headers["location"] == "/console/cases"


async def test_wrong_password_and_unknown_login_read_the_same(hub) -> None:
    await account(hub, "li.super", "SUPERVISOR")
    async with client(hub) as http:
        wrong = await sign_in(http, "li.super", "not the password!")
        nobody = await sign_in(http, "nobody.here", "not the password!")
    assert wrong.status_code == nobody.status_code == 401
    assert "登录名或密码不正确" in wrong.text and "登录名或密码不正确" in nobody.text


async def test_lock_out_after_five_failures_even_with_the_right_password(hub) -> None:
    await account(hub, "wang.op", "OPERATOR", ["laiji"])
    async with client(hub) as http:
        for _ in range(5):
            assert (await sign_in(http, "wang.op", "wrong password 123")).status_code == 401
        locked = await sign_in(http, "wang.op")
        assert locked.status_code == 429
        assert "登录失败次数过多" in locked.text
        assert (await http.get("/console/cases")).status_code == 303  # not signed in


async def test_missing_or_forged_csrf_is_refused_with_403(hub) -> None:
    await account(hub, "zhao.admin", "ADMIN")
    async with client(hub) as http:
        await http.get("/console/login")
        no_token = await http.post(
            "/console/login", data={"login": "zhao.admin", "password": PASSWORD}
        )
        assert no_token.status_code == 403 and "CSRF" in no_token.text
        assert (await sign_in(http, "zhao.admin")).status_code == 303
        number = await _a_case_number(hub)
        forged = await http.post(
            f"/console/cases/{number}/actions/urge", data={"csrf_token": "x" * 43, "note": "快"}
        )
        assert forged.status_code == 403 and "CSRF" in forged.text
        missing = await http.post(f"/console/cases/{number}/actions/urge", data={"note": "快"})
        assert missing.status_code == 403
        page = await http.get(f"/console/cases/{number}")
        assert "快" not in page.text.split("办理过程")[1].split("</section>")[0]


async def test_sign_out_ends_the_session(hub) -> None:
    await account(hub, "sun.viewer", "VIEWER")
    async with client(hub) as http:
        await sign_in(http, "sun.viewer")
        page = await http.get("/console/cases")
        out = await http.post("/console/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303
        assert (await http.get("/console/cases")).status_code == 303


async def test_an_expired_session_goes_back_to_sign_in(hub) -> None:
    await account(hub, "qian.viewer", "VIEWER")
    async with client(hub) as http:
        await sign_in(http, "qian.viewer")
        cookie = http.cookies.get("sanwang_console")
        assert cookie
        # The same payload signed 9 hours ago: past the idle limit (8 hours).
        payload = cookie.rsplit(".", 2)[0]
        signer = TimestampSigner(session_key(SECRET))
        signer.get_timestamp = lambda: int(time.time()) - 9 * 3600  # type: ignore[method-assign]
        http.cookies.set("sanwang_console", signer.sign(payload).decode(), path="/console")
        again = await http.get("/console/cases")
        assert again.status_code == 303
        assert "expired=1" in again.headers["location"]
        login = await http.get(again.headers["location"])
        assert "登录已过期" in login.text


async def test_a_new_password_ends_old_sessions(hub) -> None:
    await account(hub, "zhou.viewer", "VIEWER")
    async with client(hub) as http:
        await sign_in(http, "zhou.viewer")
        assert (await http.get("/console/cases")).status_code == 200
        assert await set_password(hub.db, "zhou.viewer", "another long password")
        assert (await http.get("/console/cases")).status_code == 303


async def test_a_bearer_token_works_without_a_cookie(hub) -> None:
    async with client(hub) as http:
        page = await http.get(
            "/console/cases", headers={"Authorization": f"Bearer {hub.token('VIEWER')}"}
        )
        assert page.status_code == 200 and "案件办理" in page.text
        bad = await http.get("/console/cases", headers={"Authorization": "Bearer nonsense"})
        assert bad.status_code == 401


async def test_a_kiosk_signs_in_with_a_token(hub) -> None:
    async with client(hub) as http:
        page = await http.get("/console/login")
        done = await http.post(
            "/console/login",
            data={"token": hub.token("VIEWER"), "csrf_token": csrf_of(page.text)},
        )
        assert done.status_code == 303
        assert (await http.get("/console/cases")).status_code == 200


async def test_sign_in_does_not_redirect_off_site(hub) -> None:
    await account(hub, "wu.viewer", "VIEWER")
    async with client(hub) as http:
        page = await http.get("/console/login?next=//evil.example/")
        done = await http.post(
            "/console/login",
            data={
                "login": "wu.viewer",
                "password": PASSWORD,
                "next": "//evil.example/",
                "csrf_token": csrf_of(page.text),
            },
        )
        assert done.headers["location"] == "/console/cases"


async def _a_case_number(hub) -> str:
    return (await register(hub))["case"]["number"]


async def test_post_form_helper_roundtrip(hub) -> None:
    await account(hub, "he.admin", "ADMIN")
    async with client(hub) as http:
        await sign_in(http, "he.admin")
        number = await _a_case_number(hub)
        done = await post_form(
            http,
            f"/console/cases/{number}",
            f"/console/cases/{number}/actions/urge",
            note="请尽快处理",
        )
        assert done.status_code in (303, 409), done.text


async def test_an_htmx_request_of_an_expired_session_is_sent_to_sign_in(hub) -> None:
    async with client(hub) as http:
        answer = await http.get("/console/cases", headers={"HX-Request": "true"})
        assert answer.status_code == 401
        assert answer.headers["HX-Redirect"].startswith("/console/login?next=")


async def test_an_oversized_form_is_refused_with_413(hub) -> None:
    await account(hub, "big.admin", "ADMIN")
    async with client(hub) as http:
        await sign_in(http, "big.admin")
        number = await _a_case_number(hub)
        page = await http.get(f"/console/cases/{number}")
        answer = await http.post(
            f"/console/cases/{number}/actions/urge",
            data={"csrf_token": csrf_of(page.text), "note": "x" * 300_000},
        )
        assert answer.status_code == 413 and "超过" in answer.text


async def test_the_demo_accounts_sign_in_with_their_printed_passwords(hub) -> None:
    made = await ensure_demo_accounts(hub.db)
    assert set(made) >= {"demo-dispatcher", "demo-operator", "demo-member", "demo-admin"}
    member = await sign_in_service(hub.db, "demo-member", made["demo-member"])
    assert member is not None and member.principal.member_id is not None
    assert member.principal.tenant_codes == ("laiji",)
    again = await ensure_demo_accounts(hub.db)  # a new start: new passwords, old ones refused
    assert await sign_in_service(hub.db, "demo-member", made["demo-member"]) is None
    assert await sign_in_service(hub.db, "demo-member", again["demo-member"]) is not None
