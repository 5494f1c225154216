"""The grid member's phone view /console/m/ through the live app, on both databases: my cases
(accept, progress, submit with a photo), a patrol (start, a finding with a photo, end), today's
diary; a resend with the same clientId is the same patrol and the same finding; photos of a
wrong type or too large; CSRF on every POST; roles and towns."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

from PIL import Image
from sqlalchemy import func, select

from hub.attachments.model import AttachmentLink
from hub.patrols.model import Finding, Patrol
from tests.conftest import Hub
from tests.console import account, client, csrf_of, sign_in
from tests.integration.test_people_work import assigned_case, laiji_people

CLIENT_ID = re.compile(r'name="client_id" value="([^"]+)"')


def jpeg(color: str = "green") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(out, "JPEG")
    return out.getvalue()


async def member_account(hub: Hub, login: str = "m1") -> dict[str, Any]:
    people = await laiji_people(hub)
    member = next(iter(people.values()))
    await account(
        hub, login, "MEMBER", ["laiji"], member_external_id=member["externalId"],
        display_name=member["name"],
    )  # fmt: skip
    return member


async def count(hub: Hub, model: Any) -> int:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_patrol_with_a_finding_and_a_photo_resent_is_not_doubled(hub: Hub) -> None:
    member = await member_account(hub)
    async with client(hub) as http:
        await sign_in(http, "m1")
        home = await http.get("/console/m/")
        assert home.status_code == 200, home.text
        assert member["name"] in home.text and "出发巡查" in home.text
        assert 'name="viewport"' in home.text and "phone.js" in home.text
        csrf, start_id = csrf_of(home.text), CLIENT_ID.search(home.text).group(1)  # type: ignore[union-attr]
        form = {"csrf_token": csrf, "client_id": start_id, "kind": "ROUTINE"}
        first = await http.post("/console/m/patrols", data=form)
        again = await http.post("/console/m/patrols", data=form)  # the phone's resend
        assert first.status_code == again.status_code == 303
        assert await count(hub, Patrol) == 1
        page = await http.get("/console/m/")
        assert "巡查中" in page.text and "已出发巡查" in page.text
        action = re.search(r'action="(/console/m/patrols/[^"/]+/findings)"', page.text)
        assert action
        url = action.group(1)
        finding_id = re.search(
            r'id="form-finding".*?name="client_id" value="([^"]+)"', page.text, re.S
        ).group(1)  # type: ignore[union-attr]
        photo = await http.post(
            "/console/m/photos",
            files={"file": ("p.jpg", jpeg(), "image/jpeg")},
            headers={"X-CSRF-Token": csrf},
        )
        assert photo.status_code == 201, photo.text
        photo_id = photo.json()["id"]
        same = await http.post(
            "/console/m/photos",
            files={"file": ("p.jpg", jpeg(), "image/jpeg")},
            headers={"X-CSRF-Token": csrf},
        )
        assert same.json()["id"] == photo_id  # a resent photo is the same attachment
        fields = {
            "csrf_token": csrf,
            "client_id": finding_id,
            "title": "河道漂浮垃圾",
            "description": "桥下约十平方米",
            "category": "WATER",
            "attachment_ids": photo_id,
        }
        done = await http.post(url, data=fields)
        resent = await http.post(url, data=fields)
        assert done.status_code == resent.status_code == 303, done.text
        assert await count(hub, Finding) == 1
        links = await count(hub, AttachmentLink)
        assert links == 2  # the finding's and its case's
        after = await http.get("/console/m/")
        assert "案件编号" in after.text
        shown = await http.get(f"/console/m/photos/{photo_id}")
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
        # a finding without JavaScript: the photo inside the form itself
        files = {"photo": ("q.jpg", jpeg("red"), "image/jpeg")}
        plain = {**fields, "client_id": str(uuid.uuid4()), "attachment_ids": "", "title": "扬尘"}
        inline = await http.post(url, data=plain, files=files)
        assert inline.status_code == 303, inline.text
        assert await count(hub, Finding) == 2 and await count(hub, AttachmentLink) == 4
        end_url = url.replace("/findings", "/end")
        sent_at = "2000-01-01T00:00:00+00:00"
        early = await http.post(
            end_url, data={"csrf_token": csrf, "summary": "巡查完毕", "sent_at": sent_at}
        )
        assert early.status_code == 422 and "endedAt" in early.text  # before its start
        ended = {"csrf_token": csrf, "summary": "巡查完毕", "sent_at": ""}
        from datetime import UTC, datetime

        ended["sent_at"] = datetime.now(UTC).isoformat()
        assert (await http.post(end_url, data=ended)).status_code == 303
        assert (await http.post(end_url, data=ended)).status_code == 303  # resend: same end
        late = await http.post(url, data=fields)  # a finding resent after the end: same case
        assert late.status_code == 303 and await count(hub, Finding) == 2
        home = await http.get("/console/m/")
        assert "巡查中" not in home.text and "出发巡查" in home.text


async def test_bad_forms_answer_in_chinese_and_write_nothing(hub: Hub) -> None:
    await member_account(hub)
    async with client(hub) as http:
        await sign_in(http, "m1")
        home = await http.get("/console/m/")
        csrf = csrf_of(home.text)
        missing_id = await http.post("/console/m/patrols", data={"csrf_token": csrf})
        assert missing_id.status_code == 422 and "clientId 不能为空" in missing_id.text
        bad_kind = await http.post(
            "/console/m/patrols", data={"csrf_token": csrf, "client_id": "a", "kind": "FLY"}
        )
        assert bad_kind.status_code == 422 and "请选择巡查类型" in bad_kind.text
        assert await count(hub, Patrol) == 0
        await http.post("/console/m/patrols", data={"csrf_token": csrf, "client_id": "p1"})
        page = await http.get("/console/m/")
        url = re.search(r'action="(/console/m/patrols/[^"/]+/findings)"', page.text).group(1)  # type: ignore[union-attr]
        empty = await http.post(
            url, data={"csrf_token": csrf, "client_id": "f1", "category": "AIR", "title": ""}
        )
        assert empty.status_code == 422 and "不能为空" in empty.text
        long_title = await http.post(
            url,
            data={"csrf_token": csrf, "client_id": "f1", "category": "AIR", "title": "长" * 500,
                  "description": "x"},
        )  # fmt: skip
        assert long_title.status_code == 422
        wrong = await http.post(
            url,
            data={"csrf_token": csrf, "client_id": "f1", "category": "AIR", "title": "t",
                  "description": "d"},
            files={"photo": ("x.jpg", b"GIF89a not a photo", "image/jpeg")},
        )  # fmt: skip
        assert wrong.status_code == 415 and "附件类型不支持" in wrong.text
        assert await count(hub, Finding) == 0
        photo = await http.post(
            "/console/m/photos",
            files={"file": ("x.txt", b"hello", "text/plain")},
            headers={"X-CSRF-Token": csrf},
        )
        assert photo.status_code == 415 and "附件类型不支持" in photo.json()["errors"][0]["message"]
        limit = hub.app.state.runtime.settings.attachments_max_bytes
        big = await http.post(
            "/console/m/photos",
            files={"file": ("b.jpg", b"\xff\xd8\xff" + b"0" * limit, "image/jpeg")},
            headers={"X-CSRF-Token": csrf},
        )
        assert big.status_code == 413
        unknown = await http.post(
            url,
            data={"csrf_token": csrf, "client_id": "f2", "category": "AIR", "title": "t",
                  "description": "d", "attachment_ids": str(uuid.uuid4())},
        )  # fmt: skip
        assert unknown.status_code == 422 and "不存在或您无权使用" in unknown.text
        assert await count(hub, Finding) == 0
        diary = await http.post("/console/m/diary", data={"csrf_token": csrf, "text": " "})
        assert diary.status_code == 422 and 'class="error"' in diary.text


async def test_every_post_needs_the_csrf_token(hub: Hub) -> None:
    await member_account(hub)
    async with client(hub) as http:
        await sign_in(http, "m1")
        await http.get("/console/m/")
        for url in (
            "/console/m/patrols",
            "/console/m/patrols/x/findings",
            "/console/m/patrols/x/end",
            "/console/m/photos",
            "/console/m/diary",
            "/console/m/cases/X/accept",
        ):
            refused = await http.post(url, data={"client_id": "a", "csrf_token": "forged"})
            assert refused.status_code == 403, url
            assert "CSRF" in refused.text
        assert await count(hub, Patrol) == 0


async def test_my_case_accepted_and_submitted_with_a_photo_then_the_diary(hub: Hub) -> None:
    member = await member_account(hub)
    case = await assigned_case(hub, member)
    number = case["number"]
    async with client(hub) as http:
        await sign_in(http, "m1")
        home = await http.get("/console/m/")
        assert number in home.text and "已转办" in home.text
        page = await http.get(f"/console/m/cases/{number}")
        assert 'id="form-accept"' in page.text and 'id="form-submit"' not in page.text
        csrf = csrf_of(page.text)
        done = await http.post(f"/console/m/cases/{number}/accept", data={"csrf_token": csrf})
        assert done.status_code == 303
        page = await http.get(done.headers["location"])
        assert "已签收" in page.text and "办理中" in page.text
        empty = await http.post(
            f"/console/m/cases/{number}/progress", data={"csrf_token": csrf, "note": ""}
        )
        assert empty.status_code == 422 and "不能为空" in empty.text
        await http.post(
            f"/console/m/cases/{number}/progress", data={"csrf_token": csrf, "note": "已到现场"}
        )
        submit = await http.post(
            f"/console/m/cases/{number}/submit",
            data={"csrf_token": csrf, "result": "已清理完毕"},
            files={"photo": ("r.jpg", jpeg("blue"), "image/jpeg")},
        )
        assert submit.status_code == 303, submit.text
        page = await http.get(f"/console/m/cases/{number}")
        assert "待审核" in page.text and "已清理完毕" in page.text
        assert await count(hub, AttachmentLink) == 1
        diary = await http.get("/console/m/diary")
        assert "签收" in diary.text and number in diary.text
        wrote = await http.post(
            "/console/m/diary", data={"csrf_token": csrf, "text": "上午处理河道问题。"}
        )
        assert wrote.status_code == 303
        again = await http.post(
            "/console/m/diary", data={"csrf_token": csrf, "text": "上午处理河道问题。"}
        )
        assert again.status_code == 303
        diary = await http.get("/console/m/diary")
        assert "上午处理河道问题。" in diary.text and "已修改" not in diary.text


async def test_roles_and_towns(hub: Hub) -> None:
    member = await member_account(hub)
    await account(hub, "op1", "OPERATOR", ["laiji"])
    await account(hub, "op2", "OPERATOR", ["chaohua"])
    case = await assigned_case(hub, member)
    async with client(hub) as http:
        await sign_in(http, "op1")
        page = await http.get("/console/m/")
        assert page.status_code == 403 and "未绑定网格人员" in page.text
        csrf = csrf_of(page.text)
        start = await http.post("/console/m/patrols", data={"csrf_token": csrf, "client_id": "a"})
        assert start.status_code == 403
    async with client(hub) as http:
        await sign_in(http, "op2")
        other = await http.get(f"/console/m/cases/{case['number']}")
        assert other.status_code == 404  # another town's case does not exist for them
    async with client(hub) as http:
        await sign_in(http, "m1")
        await http.get("/console/m/")
        # another member's patrol is refused; an unknown one is 404
        unknown = await http.post(
            f"/console/m/patrols/{uuid.uuid4()}/end",
            data={"csrf_token": csrf_of((await http.get("/console/m/")).text), "summary": "x"},
        )
        assert unknown.status_code == 404
