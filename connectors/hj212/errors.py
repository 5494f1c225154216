"""The one exception type of the HJ 212 codec."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a packet was rejected. Values are stable strings (logged, counted in metrics)."""

    BAD_HEADER = "BAD_HEADER"  # no "##", or the 4 length characters are not decimal digits
    BAD_LENGTH = "BAD_LENGTH"  # declared length differs from the data segment
    BAD_CRC = "BAD_CRC"  # CRC field is not 4 hex digits, or does not match
    BAD_FIELD = "BAD_FIELD"  # data segment unusable: no CP=&&...&&, missing CN/MN, bad PNUM
    BAD_ENCODING = "BAD_ENCODING"  # data segment is not text the codec can decode
    TOO_LONG = "TOO_LONG"  # longer than the configured maximum (or than 4 digits can say)
    BAD_DATA_TIME = "BAD_DATATIME"  # a data upload's DataTime is no time its values can have
    GARBAGE = "GARBAGE"  # bytes between packets that are not a packet (framer only)
    INCOMPLETE = "INCOMPLETE"  # the packet ends before its declared length
    INTERNAL = "INTERNAL"  # a bug in the codec: an unexpected exception, wrapped


class HJ212Error(ValueError):
    """Every failure of the codec: ``reason`` (a :class:`Reason`) and a human ``message``."""

    def __init__(self, reason: Reason | str, message: str = "") -> None:
        self.reason = Reason(reason)
        self.message = message
        super().__init__(f"{self.reason}: {message}" if message else str(self.reason))

    def __reduce__(self):  # picklable despite the two-argument constructor
        return (type(self), (self.reason, self.message))
