"""A camera event's snapshot: taken from the body (base64 JPEG) or fetched from the recorder
(``snapshotUrl``, with a timeout, a size cap and no private addresses unless allowed), checked
to be a JPEG, and stored by content hash.
The bytes are kept as the hub's attachments (``hub.attachments``): ``blob_store``.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from connectors.ingest import Refused, invalid
from connectors.video.settings import VideoSettings
from hub.attachments.storage import BlobStore, Remembered, open_store
from hub.config import Settings

JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class Snapshot:
    data: bytes
    sha256: str


def from_base64(text: str, settings: VideoSettings) -> Snapshot:
    """The snapshot sent in the body; 413 over the size cap, 422 naming snapshot otherwise."""
    if text.startswith("data:"):  # a data URL, as some platforms send: data:image/jpeg;base64,
        text = text.partition(",")[2]
    if len(text) * 3 // 4 > settings.max_snapshot_bytes + 3:
        raise _too_large("snapshot", settings)
    try:  # strict: the alphabet and padding only (as b64decode's validate, without its regex)
        data = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise invalid("snapshot", "抓拍图片须为 Base64 编码的 JPEG") from None
    return checked(data, "snapshot", settings)


def checked(data: bytes, field: str, settings: VideoSettings) -> Snapshot:
    if len(data) > settings.max_snapshot_bytes:
        raise _too_large(field, settings)
    if not is_jpeg(data):
        raise invalid(field, "抓拍图片不是 JPEG 图像")
    return Snapshot(data, hashlib.sha256(data).hexdigest())


# Start-of-frame markers (SOF0-SOF15 but DHT C4, JPG C8 and DAC CC): the frame header gives
# the picture's size.
_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length


def is_jpeg(data: bytes) -> bool:
    """A JPEG by its structure, read without decoding (a recorder's picture is shown, not
    analysed): the start-of-image marker, well-formed header segments up to a start-of-frame
    giving a width and height, and the end-of-image marker at the end (a picture cut short
    in transit is refused). A few microseconds for a 50 kB snapshot; opening it with Pillow
    took about 150 us, decoding it milliseconds."""
    if not data.startswith(JPEG_MAGIC) or b"\xff\xd9" not in data[-32:]:
        return False
    at, end = 2, len(data)
    while at + 4 <= end:
        if data[at] != 0xFF:
            return False
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte before the marker
            at += 1
            continue
        if marker in _STANDALONE:
            at += 2
            continue
        if marker in (0xD8, 0xD9, 0xDA):  # a second image start, the end or the scan first
            return False
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if length < 2:
            return False
        if marker in _FRAMES:
            if length < 8 or at + 9 > end:
                return False
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            width = int.from_bytes(data[at + 7 : at + 9], "big")
            return height > 0 and width > 0
        at += 2 + length
    return False


def _too_large(field: str, settings: VideoSettings) -> Refused:
    return invalid(field, f"抓拍图片超过 {settings.max_snapshot_bytes} 字节", 413)


# --- fetching ---------------------------------------------------------------------------------


def _blocked(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


async def _address(host: str, port: int, settings: VideoSettings) -> str:
    """The address to connect to: resolved once and checked, then used for the connection
    itself (a name that resolves elsewhere a moment later - DNS rebinding - is not asked
    again)."""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise invalid("snapshotUrl", f"抓拍图片地址的主机 {host} 无法解析") from None
    addresses = [str(info[4][0]) for info in found]
    if not addresses:
        raise invalid("snapshotUrl", f"抓拍图片地址的主机 {host} 无法解析")
    if not settings.allow_private_urls and any(_blocked(a) for a in addresses):
        raise invalid(
            "snapshotUrl",
            f"抓拍图片地址 {host} 是内网、回环或保留地址，设置未允许"
            "（SANWANG_VIDEO_ALLOW_PRIVATE_URLS）",
        )
    return addresses[0]


async def fetch(url: str, settings: VideoSettings) -> Snapshot:
    """GET the snapshot: http(s) only, no redirects, the whole exchange within the timeout,
    the body read up to the size cap."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("snapshotUrl", "抓拍图片地址须为 http:// 或 https:// 链接")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise invalid("snapshotUrl", "抓拍图片地址的端口无效") from None
    limit, seconds = settings.max_snapshot_bytes, settings.fetch_timeout_seconds
    host = parts.hostname
    try:
        async with asyncio.timeout(seconds):
            address = await _address(host, port, settings)
    except TimeoutError:
        raise invalid("snapshotUrl", f"解析抓拍图片地址超时（{seconds:g} 秒）") from None
    literal = f"[{address}]" if ":" in address else address
    pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    named = f"[{host}]" if ":" in host else host
    headers = {"Host": named if parts.port is None else f"{named}:{port}"}
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    try:
        async with asyncio.timeout(seconds):
            async with (
                httpx.AsyncClient(timeout=seconds, follow_redirects=False) as client,
                client.stream("GET", pinned, headers=headers, extensions=extensions) as response,
            ):
                if response.status_code != 200:
                    raise invalid("snapshotUrl", f"取抓拍图片失败：HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise _too_large("snapshotUrl", settings)
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise _too_large("snapshotUrl", settings)
                    chunks.append(chunk)
    except TimeoutError:
        raise invalid("snapshotUrl", f"取抓拍图片超时（{seconds:g} 秒）") from None
    except httpx.TimeoutException:
        raise invalid("snapshotUrl", f"取抓拍图片超时（{seconds:g} 秒）") from None
    except httpx.HTTPError as exc:
        raise invalid("snapshotUrl", f"取抓拍图片失败：{type(exc).__name__}") from None
    return checked(b"".join(chunks), "snapshotUrl", settings)


# --- storing ----------------------------------------------------------------------------------


def blob_store(settings: Settings) -> BlobStore:
    """The hub's attachment store as configured (SANWANG_ATTACHMENTS_*): snapshots are
    attachments, kept once per sha256 (remembered: the many repeats of a still scene's picture
    cost no look-up)."""
    return Remembered(
        open_store(
            folder=settings.attachments_dir,
            s3_endpoint=settings.attachments_s3_endpoint,
            s3_bucket=settings.attachments_s3_bucket,
            s3_access_key=settings.attachments_s3_access_key,
            s3_secret_key=settings.attachments_s3_secret_key,
            s3_region=settings.attachments_s3_region,
            s3_prefix=settings.attachments_s3_prefix,
        )
    )
