"""The snapshot checks of POST /ingest/video, without a database: a JPEG by its structure
(markers up to a frame with a size, the end marker), strict base64, and the blob store that
remembers what it has."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from connectors.ingest import Refused
from connectors.video.settings import VideoSettings
from connectors.video.snapshots import from_base64, is_jpeg
from hub.attachments.storage import LocalStore, Remembered


def picture(fmt: str = "JPEG", **options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format=fmt, **options)
    return out.getvalue()


def test_jpegs_baseline_and_progressive_pass() -> None:
    assert is_jpeg(picture())
    assert is_jpeg(picture(progressive=True))
    assert is_jpeg(picture(quality=10, optimize=True))


def test_not_jpegs_and_damaged_ones_are_refused() -> None:
    whole = picture()
    assert not is_jpeg(picture("PNG"))
    assert not is_jpeg(b"")
    assert not is_jpeg(b"\xff\xd8\xff" + b"\0" * 1000)  # the signature only
    assert not is_jpeg(whole[:-100])  # cut short in transit: no end marker
    assert not is_jpeg(whole[:20] + b"\xff\xd9")  # no frame before the end
    # A frame header claiming a zero width.
    at = whole.index(b"\xff\xc0")
    zero = whole[: at + 7] + b"\x00\x00" + whole[at + 9 :]
    assert not is_jpeg(zero)


def test_base64_is_strict_and_the_size_cap_is_413() -> None:
    settings = VideoSettings()
    good = base64.b64encode(picture()).decode()
    assert from_base64(good, settings).data == picture()
    assert from_base64("data:image/jpeg;base64," + good, settings).data == picture()
    for bad in ("not base64!", good[:-2] + "\n" + good[-2:], good + "=" * 3):
        with pytest.raises(Refused) as refused:
            from_base64(bad, settings)
        assert refused.value.status == 422
    huge = base64.b64encode(b"\xff\xd8\xff" + b"\0" * (settings.max_snapshot_bytes + 10))
    with pytest.raises(Refused) as refused:
        from_base64(huge.decode(), settings)
    assert refused.value.status == 413


def test_the_store_remembers_blobs_it_has(tmp_path: Path) -> None:
    inner = LocalStore(tmp_path)
    store = Remembered(inner)
    sha = "ab" * 32

    async def run() -> None:
        assert await store.put(sha, b"x", "image/jpeg") is True
        inner.path(sha).unlink()  # gone behind its back: remembered, not asked again
        assert await store.put(sha, b"x", "image/jpeg") is False
        assert await store.has(sha) is True
        other = "cd" * 32
        assert await store.has(other) is False
        assert await Remembered(inner).put(sha, b"x", "image/jpeg") is True

    asyncio.run(run())
