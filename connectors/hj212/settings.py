"""The HJ 212 listener's settings, SANWANG_HJ212_* (a .env file may supply them too), read once
per process by ``hub.runtime.Runtime.start`` and kept in the runtime. The reading writer's and
the alarms' settings (SANWANG_READING_*, _ALARM_*, _OFFLINE_*) stay in ``hub.config``: they
belong to hub.monitoring, which imports no connector."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:  # the codec package names this class when it registers: keep it light
    from hub.runtime import Runtime


class HJ212Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANWANG_HJ212_", env_file=".env", extra="ignore")

    # host and port: `sanwang serve --host/--hj212-port` set them (Runtime.start overrides).
    host: str = Field("127.0.0.1", description="address of the HJ 212 TCP listener")
    port: int = Field(9212, ge=0, le=65535, description="HJ 212 TCP port; 0 turns it off")
    processes: int = Field(
        0,
        ge=0,
        le=64,
        description="listener processes sharing the port (SO_REUSEPORT), each with its own "
        "reading writer; 0: one per CPU core on PostgreSQL, one on SQLite",
    )
    max_connections: int = Field(2000, ge=1, description="device connections at once")
    # Not small: 4G data units behind a carrier's NAT share public addresses.
    max_connections_per_address: int = Field(
        256, ge=1, description="device connections at once from one IP address"
    )
    unproven_seconds: float = Field(
        60.0, gt=0, description="a connection with no valid packet of a registered device is closed"
    )
    idle_seconds: float = Field(
        900.0, gt=0, description="a device connection silent this long is closed"
    )
    max_packet: int = Field(
        4096, ge=64, le=9999, description="largest data segment accepted (the standard: 1024)"
    )
    modbus_crc_mns: list[str] = Field(
        default_factory=list,
        description="MNs of devices allowed to send a CRC-16/MODBUS instead of Appendix A's",
    )
    max_parts: int = Field(
        100, ge=2, le=9999, description="largest PNUM of a split message accepted"
    )
    max_pending_bytes: int = Field(
        1_048_576, ge=1024, description="bytes of unfinished split messages kept per connection"
    )
    part_ttl_seconds: float = Field(
        900.0, gt=0, description="a split message not completed this long is dropped"
    )

    def link_limits(self) -> dict[str, Any]:
        """What a Link (one connection, or one HTTP body) is held to."""
        return {
            "max_length": self.max_packet,
            "modbus_crc": self.modbus_crc_mns,
            "max_parts": self.max_parts,
            "max_pending_bytes": self.max_pending_bytes,
            "part_ttl_seconds": self.part_ttl_seconds,
        }


def process_count(settings: HJ212Settings, database_url: str) -> int:
    """How many listener processes to run: the setting, or (0) one per core on PostgreSQL.
    SQLite takes one writer at a time: more processes there would only queue on its lock."""
    if settings.processes:
        return settings.processes
    if database_url.startswith("sqlite"):
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def hj212_settings(runtime: Runtime) -> HJ212Settings:
    return runtime.connector("hj212", HJ212Settings)
