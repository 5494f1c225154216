"""The connector's settings, SANWANG_PLATFORM_* (a .env file may supply them too)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SANWANG_PLATFORM_", env_file=".env", extra="ignore"
    )

    url: str | None = Field(
        None, description="the platform's base URL; unset: no pull, statuses wait in the outbox"
    )
    adapter: str = Field(
        "connectors.platform.adapter:HttpPlatform",
        description="module:Class of the adapter that speaks the platform's API",
    )
    token: str | None = Field(None, description="sent as Authorization: Bearer TOKEN")
    connect_timeout_seconds: float = Field(5.0, gt=0)
    read_timeout_seconds: float = Field(15.0, gt=0)
    poll_interval_seconds: float = Field(10.0, gt=0, description="how often the pull runs")
    page_size: int = Field(200, ge=1, le=1000, description="limit= of one page")
    batch_size: int = Field(
        200,
        ge=1,
        le=1000,
        description="assignments registered in one transaction: more is faster, but holds the "
        "case-number counter (and SQLite's write lock) longer, about 5 ms per assignment",
    )
    max_pages_per_run: int = Field(50, ge=1, description="one run takes at most this many pages")
    backoff_seconds: float = Field(5.0, gt=0, description="first delay after a failed pull")
    backoff_max_seconds: float = Field(300.0, gt=0, description="cap of the backoff")
    pause_after_failures: int = Field(
        8, ge=1, description="after this many failed pulls in a row, pause for pause_seconds"
    )
    pause_seconds: float = Field(900.0, gt=0, description="the pause when it keeps failing")
    demo_assignment_seconds: float = Field(
        30.0, gt=0, description="serve --demo: how often the simulator assigns a case"
    )


_current: PlatformSettings | None = None


def platform_settings() -> PlatformSettings:
    """The settings in force: the environment's, or what ``use`` set (serve --demo points the
    connector at its in-process simulator this way)."""
    global _current
    if _current is None:
        _current = PlatformSettings()
    return _current


def use(settings: PlatformSettings | None) -> None:
    """Replace the settings in force (None: read the environment again)."""
    global _current
    _current = settings
