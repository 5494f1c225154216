"""HJ 212 (2005 / 2017 / 2025) packet codec: pure functions and classes, no I/O.

    from connectors.hj212 import parse, build, make, Framer, Assembler, required_reply

* :func:`parse` bytes -> :class:`Packet` (length, Appendix A CRC, key=value fields, CP);
* :func:`build` / :func:`make` / :func:`frame` -> bytes; ``build(parse(p)) == p`` for packets
  built here;
* :func:`required_reply`, :func:`reply_9014`, :func:`reply_9013` (2005 style for 2005 devices);
* :class:`Framer` for TCP streams; :class:`Assembler` for PNUM/PNO messages;
* one exception type, :class:`HJ212Error` with a :class:`Reason`.

The hub loads this package as a connector (``CONNECTOR``, an entry point of
``sanwang.connectors``; see ``hub.plugins``): :func:`routes` mounts POST /ingest/hj212 and
:func:`lifespan` runs the TCP listener (modules imported on call, so the codec stays free of
I/O).
"""

from typing import Any

from hub.plugins import Connector

from .assembly import Assembler, Message, merge
from .codec import (
    DATA_FLAGS_2005_AIR,
    DATA_FLAGS_2005_SOURCE,
    DATA_FLAGS_2017,
    MAX_DATA_LENGTH_STANDARD,
    NUMERIC_SUFFIXES,
    TEXT_SUFFIXES,
    Packet,
    Version,
    build,
    encode_cp,
    encode_data,
    frame,
    is_normal_flag,
    make,
    make_reply,
    parse,
    parse_data,
    reply_9011,
    reply_9012,
    reply_9013,
    reply_9014,
    required_reply,
)
from .crc import crc16, crc16_modbus, crc_text
from .errors import HJ212Error, Reason
from .framing import Framer, FrameResult
from .settings import HJ212Settings

__all__ = [
    "DATA_FLAGS_2005_AIR",
    "DATA_FLAGS_2005_SOURCE",
    "DATA_FLAGS_2017",
    "MAX_DATA_LENGTH_STANDARD",
    "NUMERIC_SUFFIXES",
    "TEXT_SUFFIXES",
    "Assembler",
    "FrameResult",
    "Framer",
    "HJ212Error",
    "Message",
    "Packet",
    "Reason",
    "Version",
    "build",
    "crc16",
    "crc16_modbus",
    "crc_text",
    "encode_cp",
    "encode_data",
    "frame",
    "is_normal_flag",
    "make",
    "make_reply",
    "merge",
    "parse",
    "parse_data",
    "reply_9011",
    "reply_9012",
    "reply_9013",
    "reply_9014",
    "required_reply",
]


def routes(state: dict[str, Any]) -> list[Any]:
    from connectors.hj212.http import routes as make

    return make(state)


def lifespan(state: dict[str, Any]) -> Any:
    from connectors.hj212.runtime import lifespan as run

    return run(state)


CONNECTOR = Connector(
    "hj212",
    settings=HJ212Settings,
    routes=routes,
    lifespan=lifespan,
    models="connectors.hj212.model",
)
