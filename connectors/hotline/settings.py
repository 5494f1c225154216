"""The hotline connector's settings, SANWANG_HOTLINE_* (a .env file may supply them too), read
once per process by ``hub.runtime.Runtime.start`` and kept in the runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:  # the connector names this class when it registers: keep the import light
    from hub.runtime import Runtime


class HotlineSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SANWANG_HOTLINE_", env_file=".env", extra="ignore"
    )

    callback_url: str | None = Field(
        None,
        description="where the result of a resolved hotline case is POSTed (the call system); "
        "unset: no callbacks are sent",
    )
    callback_timeout_seconds: float = Field(
        10.0, gt=0, description="connect/read timeout of one callback"
    )
    demo_call_seconds: float = Field(
        12.0, gt=0, description="serve --demo: how often the simulated call system phones in"
    )

    @field_validator("callback_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value or None


def hotline_settings(runtime: Runtime) -> HotlineSettings:
    return runtime.connector("hotline", HotlineSettings)
