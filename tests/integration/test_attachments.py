"""Attachments (POST /attachments, GET /attachments/{id}) and their use: stored once by sha256,
typed by content, size-limited, the sha256 on the audit trail of what they are attached to,
read only by who may see that. Service level and over real HTTP, on both databases."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hub.app import create_app
from hub.attachments.model import Attachment, OwnerKind
from hub.attachments.service import link_attachment, store_attachment
from hub.attachments.storage import LocalStore, S3Store
from hub.audit.model import AuditEntry
from hub.auth import Principal, system_scope
from hub.config import Settings
from hub.db import Database
from hub.roles import Role
from hub.runtime import Runtime
from hub.uow import unit_of_work
from tests.conftest import Hub, register
from tests.integration.test_people_work import (
    LAIJI_1,
    finding,
    laiji_people,
    member_token,
    mutate,
    start,
    table_counts,
)
from tests.live import live_server
from tests.operations import op
from tests.processes import Proc, free_port
from tests.unit.test_attachment_sniff import JPEG, PDF, png_bytes

MEMBER = Principal("m-1", "网格员", frozenset({Role.MEMBER}), ("laiji",))


async def test_the_service_stores_once_and_links_with_the_sha256_audited(
    db: Database, tmp_path: Path
) -> None:
    scope = await system_scope(db)
    laiji = scope.directory.by_code["laiji"].id
    store = LocalStore(tmp_path / "blobs")

    async def upload(session):
        return await store_attachment(session, store, data=JPEG, uploaded_by="m-1", tenant_id=laiji)

    first = await unit_of_work(db, [laiji], upload)
    again = await unit_of_work(db, [laiji], upload)
    assert again.id == first.id and first.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == [first.sha256]

    async def link(session):
        case_id = uuid.uuid4()  # a camera's event (no table of its own here)
        row = await session.get(Attachment, first.id)
        await link_attachment(
            session,
            row,
            kind=OwnerKind.CAMERA_EVENT,
            owner_id=case_id,
            tenant_id=laiji,
            actor=MEMBER,
        )
        await link_attachment(
            session,
            row,
            kind=OwnerKind.CAMERA_EVENT,
            owner_id=case_id,
            tenant_id=laiji,
            actor=MEMBER,
        )
        return case_id

    case_id = await unit_of_work(db, [laiji], link)
    async with db.session([laiji]) as session:
        entries = (
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "attachment.link", AuditEntry.subject_id == str(case_id)
                )
            )
        ).all()
    assert [e.data["sha256"] for e in entries] == [first.sha256]  # linked twice, audited once
    assert entries[0].subject_type == "camera_event"
    assert PDF and png_bytes()


# --- over real HTTP, through the live app ------------------------------------------------------

LIMIT = 64 * 1024


@pytest.fixture
async def live(db: Database, settings: Settings, tmp_path: Path) -> AsyncIterator[Live]:
    mine = settings.model_copy(
        update={"attachments_dir": tmp_path / "blobs", "attachments_max_bytes": LIMIT}
    )
    app = create_app(Runtime.start(mine, db))
    async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        # GraphQL goes over the same real socket as the uploads.
        yield Live(Hub(app, db, mine, http), http, tmp_path / "blobs")


@dataclass
class Live:
    hub: Hub
    http: httpx.AsyncClient
    blobs: Path

    async def upload(
        self,
        token: str | None,
        data: bytes | None,
        name: str = "photo.jpg",
        claimed: str = "image/jpeg",
        **fields: str,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # Multipart either way: without a file, a plain field is the only part.
        files: dict[str, Any] = {k: (None, v) for k, v in fields.items()}
        if data is not None:
            files["file"] = (name, data, claimed)
        elif not files:
            files["note"] = (None, "no file here")
        return await self.http.post("/attachments", files=files, headers=headers)

    async def read(self, token: str, attachment_id: str) -> httpx.Response:
        return await self.http.get(
            f"/attachments/{attachment_id}", headers={"Authorization": f"Bearer {token}"}
        )

    def stored(self) -> list[str]:
        return sorted(p.name for p in self.blobs.rglob("*") if p.is_file())


def refused(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field and error["message"], error
    return error


async def test_photos_and_documents_are_stored_by_content(live: Live) -> None:
    member = live.hub.token("MEMBER", ["laiji"], sub="m-up")
    for data, mime, name in [
        (JPEG, "image/jpeg", "a.jpg"),
        (png_bytes(), "image/png", "IMG_0001.bin"),  # the name does not count
        (PDF, "application/pdf", "report"),
    ]:
        answer = await live.upload(member, data, name=name, claimed="application/octet-stream")
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body == {
            "id": body["id"],
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "contentType": mime,
        }
        read = await live.read(member, body["id"])
        assert read.status_code == 200 and read.content == data
        assert read.headers["content-type"] == mime
        assert read.headers["x-content-type-options"] == "nosniff"
    assert len(live.stored()) == 3


async def test_the_same_file_twice_is_stored_once(live: Live) -> None:
    first = await live.upload(live.hub.token("MEMBER", ["laiji"], sub="m-a"), JPEG)
    again = await live.upload(live.hub.token("MEMBER", ["laiji"], sub="m-a"), JPEG)
    other = await live.upload(live.hub.token("OPERATOR", ["laiji"], sub="o-b"), JPEG)
    town = await live.upload(live.hub.token("MEMBER", ["chaohua"], sub="m-c"), JPEG)
    assert again.json()["id"] == first.json()["id"]  # a retry: the same attachment
    assert len({first.json()["id"], other.json()["id"], town.json()["id"]}) == 3
    assert live.stored() == [first.json()["sha256"]]  # one blob for all of them


async def test_bad_uploads_are_refused_and_nothing_is_stored(live: Live) -> None:
    member = live.hub.token("MEMBER", ["laiji"])
    gif = b"GIF89a" + b"\x00" * 40
    error = refused(await live.upload(member, gif, name="photo.jpg"), 415, "file")
    assert error["code"] == "UNSUPPORTED_MEDIA_TYPE" and "JPEG" in error["message"]
    refused(await live.upload(member, b"<html>hi</html>", name="x.pdf"), 415, "file")
    refused(await live.upload(member, b"", name="x.jpg"), 415, "file")
    big = JPEG + b"\x00" * LIMIT
    error = refused(await live.upload(member, big), 413, "file")
    assert "64 KiB" in error["message"]
    refused(await live.upload(member, None), 422, "file")  # no file part
    not_multipart = await live.http.post(
        "/attachments", content=JPEG, headers={"Authorization": f"Bearer {member}"}
    )
    refused(not_multipart, 422, "body")
    refused(await live.upload("sw_not-a-token", JPEG), 401, "authorization")
    refused(await live.upload(None, JPEG), 401, "authorization")
    refused(await live.upload(live.hub.token("VIEWER", ["laiji"]), JPEG), 403, "authorization")
    assert live.stored() == []
    async with live.hub.db.session(await _all_towns(live.hub)) as session:
        assert await session.scalar(select(func.count()).select_from(Attachment)) == 0


async def test_a_huge_body_is_refused_without_being_read_whole(live: Live) -> None:
    member = live.hub.token("MEMBER", ["laiji"])
    # A raw socket, chunked (no Content-Length to go by): send until the answer comes.
    url = httpx.URL(str(live.http.base_url))
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = (
        "POST /attachments HTTP/1.1\r\n"
        f"Host: {url.host}\r\nAuthorization: Bearer {member}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    part = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
    part += b"Content-Type: image/jpeg\r\n\r\n" + JPEG
    sent, answer = 0, b""
    writer.write(head.encode() + b"%x\r\n%s\r\n" % (len(part), part))
    chunk = b"\x00" * 65536
    try:
        while sent < 256 * 1024 * 1024 and not answer:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            sent += len(chunk)
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(reader.read(4096), 0.01)
    except ConnectionError:
        pass  # the server stopped reading and closed: the answer is waiting
    if not answer:
        answer = await asyncio.wait_for(reader.read(4096), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 32 * 1024 * 1024  # it did not wait for the 256 MiB
    # A declared length past the limit is refused before any of the body is read.
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(
        (
            "POST /attachments HTTP/1.1\r\n"
            f"Host: {url.host}\r\nAuthorization: Bearer {member}\r\n"
            "Content-Type: multipart/form-data; boundary=xyz\r\n"
            f"Content-Length: {10 * 1024**3}\r\n\r\n"
        ).encode()
        + part
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert live.stored() == []


async def test_reads_follow_who_may_see_what_it_is_attached_to(live: Live) -> None:
    hub = live.hub
    people = await laiji_people(hub)
    mine = people[LAIJI_1]
    token = member_token(mine)
    uploaded = (await live.upload(token, JPEG)).json()
    office, other_town = hub.token("OPERATOR", ["laiji"]), hub.token("OPERATOR", ["chaohua"])
    # Not attached yet: its uploader only (another town cannot tell it exists).
    refused(await live.read(office, uploaded["id"]), 404, "id")
    refused(await live.read(other_town, uploaded["id"]), 404, "id")
    refused(await live.read(token, str(uuid.uuid4())), 404, "id")
    refused(await live.read(token, "not-an-id"), 404, "id")
    unauthenticated = await live.http.get(f"/attachments/{uploaded['id']}")
    refused(unauthenticated, 401, "authorization")

    patrol = (await start(hub, token))["patrol"]
    found = await mutate(
        hub,
        "RecordFinding",
        token,
        patrolId=patrol["id"],
        input=finding(attachmentIds=[uploaded["id"]]),
    )
    case_id = found["case"]["id"]
    seen = (await hub.gql(CASE_ATTACHMENTS, {"id": case_id}, token=office))["case"]
    assert seen["attachments"] == [
        {
            "id": uploaded["id"],
            "sha256": uploaded["sha256"],
            "contentType": "image/jpeg",
            "size": len(JPEG),
            "url": f"/attachments/{uploaded['id']}",
        }
    ]
    # Attached to a laiji case: laiji's readers may read it, another town still may not.
    assert (await live.read(office, uploaded["id"])).content == JPEG
    assert (await live.read(hub.token("DISPATCHER"), uploaded["id"])).status_code == 200
    refused(await live.read(other_town, uploaded["id"]), 404, "id")
    # The sha256 is on the audit trail of the case (and of the finding), chain intact.
    async with hub.db.session(await _all_towns(hub)) as session:
        entries = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "attachment.link")
                .order_by(AuditEntry.seq)
            )
        ).all()
    assert sorted((e.subject_type, e.data["sha256"]) for e in entries) == [
        ("case", uploaded["sha256"]),
        ("finding", uploaded["sha256"]),
    ]
    assert next(e for e in entries if e.subject_type == "case").subject_id == case_id
    verified = await hub.gql(op("VerifyAudit"), {"tenantCode": "laiji"})
    assert verified["verifyAuditTrail"]["ok"] is True


async def test_a_finding_names_only_attachments_its_member_may_use(live: Live) -> None:
    hub = live.hub
    people = await laiji_people(hub)
    token = member_token(people[LAIJI_1])
    someone_elses = (await live.upload(hub.token("OPERATOR", ["laiji"]), PDF)).json()
    patrol = (await start(hub, token))["patrol"]
    before = await table_counts(hub)
    for ids in ([someone_elses["id"]], [str(uuid.uuid4())], ["nonsense"]):
        answer = await mutate(
            hub, "RecordFinding", token, patrolId=patrol["id"], input=finding(attachmentIds=ids)
        )
        assert answer["__typename"] == "UserError" and answer["field"] == "attachmentIds", answer
    assert await table_counts(hub) == before  # nothing half-written


async def _all_towns(hub: Hub) -> list[uuid.UUID]:
    return [t.id for t in (await hub.scope()).directory.tenants]


CASE_ATTACHMENTS = """
query CaseAttachments($id: ID!) {
  case(id: $id) { id attachments { id sha256 contentType size url } }
}"""


# --- an S3-compatible store: moto's S3 server, a real HTTP server on loopback -----------------


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    cwd = tmp_path_factory.mktemp("moto")
    server = Proc(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        dict(os.environ),
        cwd,
        "moto",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/moto-api/", timeout=1).status_code < 500:
                    break
            if server.popen.poll() is not None:
                raise AssertionError(f"moto_server did not start:\n{server.output()}")
            time.sleep(0.05)
        yield url
    finally:
        server.kill()


def s3_settings(settings: Settings, endpoint: str, bucket: str) -> Settings:
    import boto3

    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="hub",
        aws_secret_access_key="hub-secret",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    return settings.model_copy(
        update={
            "attachments_s3_endpoint": endpoint,
            "attachments_s3_bucket": bucket,
            "attachments_s3_access_key": "hub",
            "attachments_s3_secret_key": "hub-secret",
            "attachments_s3_prefix": "blobs/",
            "attachments_dir": Path("/nonexistent/never-used"),
        }
    )


async def test_an_s3_compatible_store_keeps_the_blobs(
    s3_server: str, db: Database, settings: Settings
) -> None:
    import boto3

    bucket = f"att-{uuid.uuid4().hex[:12]}"
    runtime = Runtime.start(s3_settings(settings, s3_server, bucket), db)
    assert isinstance(runtime.blobs, S3Store)
    app = create_app(runtime)
    async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        live = Live(Hub(app, db, runtime.settings, http), http, Path("/nonexistent"))
        member = live.hub.token("MEMBER", ["laiji"], sub="m-s3")
        first = (await live.upload(member, PDF, name="x.pdf")).json()
        again = await live.upload(live.hub.token("OPERATOR", ["laiji"], sub="o-s3"), PDF)
        assert again.status_code == 201 and again.json()["sha256"] == first["sha256"]
        read = await live.read(member, first["id"])
        assert read.status_code == 200 and read.content == PDF
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        aws_access_key_id="hub",
        aws_secret_access_key="hub-secret",
        region_name="us-east-1",
    )
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"blobs/{first['sha256']}"]  # once, under its sha256
    stored = client.get_object(Bucket=bucket, Key=keys[0])
    assert stored["Body"].read() == PDF and stored["ContentType"] == "application/pdf"
    assert not await runtime.blobs.has("0" * 64)
    with pytest.raises(FileNotFoundError):
        await runtime.blobs.get("0" * 64)


async def test_patrol_readers_and_a_city_upload_linked_to_a_town(live: Live) -> None:
    """Linked to a patrol: its member and the town's office read it, another member of the
    town and another town do not. A city dispatcher's upload linked to a laiji case is read by
    laiji's office (named again in laiji, the same blob)."""
    hub = live.hub
    people = await laiji_people(hub)
    mine, other = people[LAIJI_1], people["laiji"]
    token = member_token(mine)
    patrol = (await start(hub, token))["patrol"]
    photo = (await live.upload(token, png_bytes())).json()
    dispatcher = hub.token("DISPATCHER", sub="d-city")
    scan = (await live.upload(dispatcher, PDF)).json()
    case = (await register(hub, tenantCode="laiji"))["case"]
    towns = await _all_towns(hub)
    city = (await hub.scope()).directory.city
    assert city is not None

    async def link(session: Any) -> Attachment:
        rows = {
            a.id: a
            for a in await session.scalars(
                select(Attachment).where(
                    Attachment.id.in_([uuid.UUID(photo["id"]), uuid.UUID(scan["id"])])
                )
            )
        }
        p = rows[uuid.UUID(photo["id"])]
        await link_attachment(
            session,
            p,
            kind=OwnerKind.PATROL,
            owner_id=uuid.UUID(patrol["id"]),
            tenant_id=p.tenant_id,
            actor=MEMBER,
        )
        scan_row = rows[uuid.UUID(scan["id"])]
        assert scan_row.tenant_id == city.id  # a city-wide upload is the city's
        laiji = (await hub.scope()).directory.by_code["laiji"].id
        return await link_attachment(
            session,
            scan_row,
            kind=OwnerKind.CASE,
            owner_id=uuid.UUID(case["id"]),
            tenant_id=laiji,
            actor=MEMBER,
        )

    in_laiji = await unit_of_work(hub.db, towns, link)
    office = hub.token("OPERATOR", ["laiji"])
    assert (await live.read(token, photo["id"])).status_code == 200
    assert (await live.read(office, photo["id"])).status_code == 200
    refused(await live.read(member_token(other), photo["id"]), 404, "id")  # not their patrol
    refused(await live.read(hub.token("OPERATOR", ["chaohua"]), photo["id"]), 404, "id")
    refused(await live.read(office, scan["id"]), 404, "id")  # the city's row: not laiji's
    assert in_laiji.id != uuid.UUID(scan["id"]) and in_laiji.sha256 == scan["sha256"]
    assert (await live.read(office, str(in_laiji.id))).content == PDF
    seen = (await hub.gql(CASE_ATTACHMENTS, {"id": case["id"]}, token=office))["case"]
    assert [a["id"] for a in seen["attachments"]] == [str(in_laiji.id)]
    assert live.stored() == sorted([photo["sha256"], scan["sha256"]])
