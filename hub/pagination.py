"""Opaque, signed keyset cursors: a forged or damaged cursor is refused, not guessed at."""

from __future__ import annotations

import base64
import hmac
import json
from typing import Any

import orjson

from hub.errors import bad_cursor, invalid

MAX_PAGE = 200
DEFAULT_PAGE = 50


def page_size(first: int | None, maximum: int = MAX_PAGE) -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 0:
        raise invalid("first", "条数不能为负数")
    return min(first, maximum)


def encode_cursor(key: str, values: list[Any]) -> str:
    # orjson and the one-shot hmac.digest: the bulk feed signs one cursor per line.
    try:
        body = orjson.dumps(values)
    except TypeError:  # an integer past 64 bits: the standard library writes any size
        body = json.dumps(values, separators=(",", ":")).encode()
    mac = hmac.digest(key.encode(), body, "sha256")[:12]
    return base64.urlsafe_b64encode(mac + body).decode().rstrip("=")


def decode_cursor(key: str, cursor: str, field: str = "after") -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        mac, body = raw[:12], raw[12:]
        good = hmac.compare_digest(mac, hmac.digest(key.encode(), body, "sha256")[:12])
        values = json.loads(body) if good else None
    except (ValueError, TypeError):
        values = None
    if not isinstance(values, list):
        raise bad_cursor(field)
    return values
