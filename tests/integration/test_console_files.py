"""A case's attachments in the console, through the live app on both databases: the case page
lists a finding's photo; /console/attachments/{id} serves it to whoever may see the case, by the
session; another town's office and an unknown id get the same 404."""

from __future__ import annotations

import io
import uuid

from PIL import Image

from tests.conftest import Hub
from tests.console import account, client, sign_in
from tests.integration.test_people_work import (
    LAIJI_1,
    finding,
    laiji_people,
    member_token,
    mutate,
    start,
)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "orange").save(out, "JPEG")
    return out.getvalue()


async def test_a_findings_photo_on_the_case_page_and_who_may_open_it(hub: Hub) -> None:
    mine = (await laiji_people(hub))[LAIJI_1]
    token = member_token(mine)
    uploaded = await hub.http.post(
        "/attachments",
        files={"file": ("site.jpg", jpeg(), "image/jpeg")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert uploaded.status_code == 201, uploaded.text
    photo = uploaded.json()["id"]
    patrol = (await start(hub, token, client_id="files-1"))["patrol"]
    spec = finding(clientId="files-f", attachmentIds=[photo])
    case = (await mutate(hub, "RecordFinding", token, patrolId=patrol["id"], input=spec))["case"]
    await account(hub, "laiji-office", "OPERATOR", ["laiji"])
    await account(hub, "niudian-office", "OPERATOR", ["niudian"])
    async with client(hub) as http:
        await sign_in(http, "laiji-office")
        page = await http.get(f"/console/cases/{case['number']}")
        assert page.status_code == 200 and 'id="attachments"' in page.text
        assert f"/console/attachments/{photo}" in page.text
        got = await http.get(f"/console/attachments/{photo}")
        assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
        assert got.content == jpeg() or got.content[:2] == b"\xff\xd8"
        unknown = await http.get(f"/console/attachments/{uuid.uuid4()}")
        assert unknown.status_code == 404
    async with client(hub) as http:
        await sign_in(http, "niudian-office")
        other = await http.get(f"/console/attachments/{photo}")
        assert other.status_code == 404 and "页面不存在" in other.text
    async with client(hub) as http:  # not signed in: to the sign-in page, no file
        anonymous = await http.get(f"/console/attachments/{photo}")
        assert anonymous.status_code in (302, 303, 307)
