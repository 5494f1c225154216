"""The connector's settings, SANWANG_PLATFORM_* (a .env file may supply them too), read once
per process by ``hub.runtime.Runtime.start`` and kept in the runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:  # the connector names this class when it registers: keep the import light
    from hub.runtime import Runtime


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


def platform_settings(runtime: Runtime) -> PlatformSettings:
    """The settings in force: read from the environment once by ``Runtime.start`` (this
    connector's ``settings``), or what ``use`` put there."""
    return runtime.connector("platform", PlatformSettings)


def use(runtime: Runtime, settings: PlatformSettings) -> None:
    """Replace the settings in force (serve --demo points the pull at its in-process simulator
    this way, once the simulator listens)."""
    runtime.connector_settings["platform"] = settings
