"""The video connector's settings, SANWANG_VIDEO_* (a .env file may supply them too), read once
per process by ``hub.runtime.Runtime.start`` and kept in the runtime."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.cameras.rules import rules_from

if TYPE_CHECKING:
    from hub.cameras.service import Policy
    from hub.config import Settings
    from hub.runtime import Runtime


class VideoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANWANG_VIDEO_", env_file=".env", extra="ignore")

    max_snapshot_bytes: int = Field(
        600_000, ge=1024, description="largest snapshot (decoded JPEG or fetched); larger: 413"
    )
    fetch_timeout_seconds: float = Field(
        5.0, gt=0, description="connect/read timeout (and overall limit) of fetching snapshotUrl"
    )
    allow_private_urls: bool = Field(
        False,
        description="fetch snapshotUrl from private, loopback and link-local addresses too "
        "(a recorder on the bureau's intranet); off: such URLs are refused",
    )
    future_skew_seconds: float = Field(
        300.0, ge=0, description="an event's time may lie this far ahead of the hub's clock"
    )
    repeat_window_minutes: float = Field(
        30.0, gt=0, description="alarms of one camera and kind this close only add to the open case"
    )
    offline_minutes: float = Field(
        10.0, gt=0, description="a camera silent this long (no event, no heartbeat) is offline"
    )
    offline_case_minutes: float = Field(
        60.0, gt=0, description="a camera silent this long opens an OFFLINE case"
    )
    rules: str | None = Field(
        None,
        description='JSON overriding the event rules by kind, e.g. {"MOTION_AT_NIGHT": '
        '{"alarming": true, "minConfidence": 0.8}} (docs/video.md)',
    )
    demo_event_seconds: float = Field(
        20.0, gt=0, description="serve --demo: how often a simulated camera pushes an event"
    )

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: str | None) -> str | None:
        rules_from(value)  # refused at start, naming the variable
        return value

    def policy(self, settings: Settings) -> Policy:
        from hub.cameras.service import Policy
        from hub.cases.duplicates import Rules

        return Policy(
            rules=rules_from(self.rules),
            repeat_window=timedelta(minutes=self.repeat_window_minutes),
            offline_after=timedelta(minutes=self.offline_minutes),
            offline_case_after=timedelta(
                minutes=max(self.offline_case_minutes, self.offline_minutes)
            ),
            tz=ZoneInfo(settings.timezone),
            prefix=settings.case_number_prefix,
            duplicates=Rules.of(settings),
        )


def video_settings(runtime: Runtime) -> VideoSettings:
    return runtime.connector("video", VideoSettings)
