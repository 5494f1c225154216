"""Times as a person reads them: in the hub's local time zone (Asia/Shanghai by default),
minutes, no offset. The API keeps ISO 8601 with its offset; only text for people goes
through here. Pure: the caller passes the zone it has (the settings' timezone)."""

from __future__ import annotations

from datetime import datetime, tzinfo

LOCAL_FORMAT = "%Y-%m-%d %H:%M"


def local_text(at: datetime, tz: tzinfo) -> str:
    """`2026-12-09T16:00:00+00:00` in Asia/Shanghai reads "2026-12-10 00:00"."""
    return at.astimezone(tz).strftime(LOCAL_FORMAT)
