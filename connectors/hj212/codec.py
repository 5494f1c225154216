"""Parse and build HJ 212 packets (2005, 2017 and 2025 editions). Pure: no I/O.

Packet: ``##`` + 4 decimal digits (length of the data segment in UTF-8 bytes) + data segment +
4 hex digits (Appendix A CRC of the data segment, compared case-insensitively) + CR LF.

The data segment is read as ``key=value`` pairs up to ``CP=&&``, not at fixed offsets, and the
non-conforming packets real devices send are accepted with a note in ``Packet.notes`` (14-char
MNs, no Flag, stray spaces, a comma after QN, a missing ``;`` before CP, no CR LF, a length that
counts characters instead of bytes). What cannot be used raises :class:`HJ212Error`; nothing else
escapes :func:`parse`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from .crc import crc16, matches_modbus
from .errors import HJ212Error, Reason

# --------------------------------------------------------------------------- constants

MAX_DATA_LENGTH_STANDARD = 1024  # HJ 212-2017 Table 2
MAX_DATA_LENGTH_FIELD = 9999  # what 4 decimal digits can express

HEADER_KEYS = ("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO")

# Field suffixes whose values are numbers (HJ 212-2017 §6.3.3, Table 4 and Appendix C).
NUMERIC_SUFFIXES = frozenset(
    {
        "Rtd", "Avg", "Min", "Max", "Cou",
        "ZsRtd", "ZsAvg", "ZsMin", "ZsMax",
        "Data", "DayData", "NightData", "RT",
    }
)  # fmt: skip
# Suffixes kept as text.
TEXT_SUFFIXES = frozenset({"Flag", "EFlag", "SampleTime", "Info", "SN", "RS"})

# Data flags (the ``xxxxxx-Flag`` values).
DATA_FLAGS_2017: Mapping[str, str] = {
    "N": "normal",
    "F": "instrument stopped",
    "M": "maintenance",
    "S": "manually set value",
    "D": "instrument fault",
    "C": "calibration",
    "T": "above the measuring upper limit",
    "B": "instrument-DAS communication abnormal",
}
DATA_FLAGS_2005_SOURCE: Mapping[str, str] = {
    "P": "power failure",
    "F": "source stopped",
    "C": "calibration",
    "M": "maintenance",
    "T": "above the measuring upper limit",
    "D": "instrument fault",
    "S": "manually set value",
    "N": "normal",
}
DATA_FLAGS_2005_AIR: Mapping[str, str] = {
    "0": "calibration data",
    "1": "meteorological parameter",
    "2": "abnormal data",
    "3": "normal data",
}

# Flag bits (HJ 212-2017 §6.3.2): V5..V0 D A.
FLAG_ACK = 0x01  # A: the receiver must acknowledge
FLAG_SPLIT = 0x02  # D: PNUM/PNO present

ST_SYSTEM = "91"  # system interaction (9011-9014)
CN_REQUEST_ANSWER = "9011"
CN_EXECUTION_RESULT = "9012"
CN_NOTICE_ANSWER = "9013"
CN_DATA_ANSWER = "9014"
CN_TIME_CALIBRATION_REQUEST = "1013"

_FORBIDDEN_VALUE_CHARS = frozenset(";,=&\r\n")
_HEX = frozenset("0123456789ABCDEFabcdef")


class Version(StrEnum):
    """The edition a packet claims, from the version bits of its Flag (``Flag >> 2``)."""

    V2005 = "2005"  # bits 000000, or no Flag at all (HJ/T 212-2005 uploads carry none)
    V2017 = "2017"  # bits 000001
    V2025 = "2025"  # bits 000010 (per public implementations of HJ 212-2025; unverified)
    UNKNOWN = "unknown"  # any other bit pattern

    @classmethod
    def from_flag(cls, flag: int | None) -> Version:
        if flag is None:
            return cls.V2005
        return _VERSION_BITS.get(flag >> 2, cls.UNKNOWN)

    @property
    def bits(self) -> int:
        """The version bits as they sit in Flag (already shifted left by 2)."""
        return {"2005": 0, "2017": 4, "2025": 8}.get(self.value, 4)


_VERSION_BITS = {0: Version.V2005, 1: Version.V2017, 2: Version.V2025}


def is_normal_flag(value: object, version: Version = Version.V2017) -> bool:
    """Is a data flag the "normal" one? (``N``; for 2005 air stations also ``3``)."""
    if version is Version.V2005:
        return value in ("N", "3")
    return value == "N"


def known_data_flags(version: Version) -> frozenset[str]:
    if version is Version.V2005:
        return frozenset(DATA_FLAGS_2005_SOURCE) | frozenset(DATA_FLAGS_2005_AIR)
    return frozenset(DATA_FLAGS_2017)


# --------------------------------------------------------------------------- the packet

CPValue = str | int | float
CP = dict[str, Any]  # top-level key -> str, factor code -> {suffix: value}


@dataclass(frozen=True, slots=True, eq=True)
class Packet:
    """One HJ 212 packet, header fields typed, CP parsed.

    ``cp`` holds top-level keys (``DataTime``, ``RtdInterval``, ``QN`` in 2005 replies ...) with
    their text, and one dict per factor code: ``{"a21026": {"Rtd": 12.3, "Flag": "N"}}``.
    Numeric suffixes (:data:`NUMERIC_SUFFIXES`) become ``int`` (integer text) or ``float``; a
    value that is not a number stays text and is noted. ``notes`` lists what was non-conforming
    but accepted. ``data`` is the data segment as received (``None`` for packets made here).
    """

    cn: str
    mn: str | None = None
    st: str | None = None
    pw: str | None = None
    qn: str | None = None
    flag: int | None = None
    pnum: int | None = None
    pno: int | None = None
    cp: CP = field(default_factory=dict)
    extra: tuple[tuple[str, str], ...] = ()  # other header fields (e.g. 2025 RF=1), in order
    notes: tuple[str, ...] = ()
    data: str | None = field(default=None, compare=False)

    __hash__ = None  # type: ignore[assignment]  # cp is a dict

    @property
    def version(self) -> Version:
        return Version.from_flag(self.flag)

    @property
    def needs_ack(self) -> bool:
        """Flag bit A: the receiver must answer (9014 for uploads)."""
        return self.flag is not None and bool(self.flag & FLAG_ACK)

    @property
    def is_split(self) -> bool:
        """Part of a multi-packet message (Flag bit D, or PNUM/PNO present)."""
        return (self.flag is not None and bool(self.flag & FLAG_SPLIT)) or self.pnum is not None

    @property
    def request_qn(self) -> str | None:
        """The QN this packet refers to: the header QN, or (2005 replies) the QN inside CP."""
        if self.qn is not None:
            return self.qn
        value = self.cp.get("QN")
        return value if isinstance(value, str) else None

    @property
    def data_time(self) -> str | None:
        value = self.cp.get("DataTime")
        return value if isinstance(value, str) else None

    @property
    def factors(self) -> dict[str, dict[str, CPValue]]:
        """Only the per-factor dicts of ``cp``."""
        return {k: v for k, v in self.cp.items() if isinstance(v, dict)}

    def to_bytes(self) -> bytes:
        return build(self)


# --------------------------------------------------------------------------- parsing


def parse(
    raw: bytes | bytearray | memoryview | str,
    *,
    verify_crc: bool = True,
    modbus_crc: bool | Collection[str] = False,
    max_length: int = MAX_DATA_LENGTH_FIELD,
) -> Packet:
    """Parse one complete packet (``##`` ... CRC, CR LF optional) into a :class:`Packet`.

    ``modbus_crc``: tolerate a CRC-16/MODBUS value (either byte order) instead of the
    Appendix A one: ``True`` for every device, or a collection of MNs. Off by default.
    ``max_length``: the largest data segment accepted (TOO_LONG above it).
    Raises :class:`HJ212Error` and nothing else.
    """
    try:
        return _parse(raw, verify_crc, modbus_crc, max_length)
    except HJ212Error:
        raise
    except Exception as exc:  # a codec bug must still surface as the one error type
        raise HJ212Error(Reason.INTERNAL, f"{type(exc).__name__}: {exc}") from exc


def _parse(
    raw: bytes | bytearray | memoryview | str,
    verify_crc: bool,
    modbus_crc: bool | Collection[str],
    max_length: int,
) -> Packet:
    if isinstance(raw, str):
        try:
            raw = raw.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise HJ212Error(Reason.BAD_ENCODING, "text is not encodable as UTF-8") from exc
    elif not isinstance(raw, bytes):
        raw = bytes(raw)
    notes: list[str] = []
    if raw[:2] != b"##":
        raise HJ212Error(Reason.BAD_HEADER, "packet does not start with '##'")
    length_field = raw[2:6]
    if len(length_field) != 4 or not length_field.isdigit():
        raise HJ212Error(Reason.BAD_HEADER, f"length field {length_field!r} is not 4 digits")
    declared = int(length_field)
    if declared > max_length:
        raise HJ212Error(Reason.TOO_LONG, f"data segment length {declared} > {max_length}")
    end = len(raw)
    if raw.endswith(b"\r\n"):
        end -= 2
    elif raw.endswith(b"\n"):
        end -= 1
        notes.append("LF_ONLY")
    else:
        notes.append("MISSING_CRLF")
    if end - 6 < 4:
        raise HJ212Error(Reason.INCOMPLETE, "packet too short for a CRC")
    data = raw[6 : end - 4]
    crc_field = raw[end - 4 : end]
    if len(data) != declared:
        if len(data) > max_length:
            raise HJ212Error(Reason.TOO_LONG, f"data segment length {len(data)} > {max_length}")
        if len(data) < declared and not _has_crlf(raw, end):
            raise HJ212Error(Reason.INCOMPLETE, f"declared {declared} bytes, {len(data)} present")
        chars = _char_count(data)
        if chars != declared:
            raise HJ212Error(
                Reason.BAD_LENGTH, f"declared {declared}, data segment has {len(data)} bytes"
            )
        notes.append("LENGTH_COUNTS_CHARACTERS")
    try:
        crc_value = int(crc_field, 16) if _is_hex4(crc_field) else -1
    except ValueError:
        crc_value = -1
    if crc_value < 0:
        raise HJ212Error(Reason.BAD_CRC, f"CRC field {crc_field!r} is not 4 hex digits")
    modbus_ok = False
    if verify_crc and crc_value != crc16(data):
        if modbus_crc and matches_modbus(data, crc_value):
            modbus_ok = True
        else:
            raise HJ212Error(
                Reason.BAD_CRC,
                f"CRC {crc_field.decode('ascii')} != {crc16(data):04X} computed",
            )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("gb18030", errors="replace")
        notes.append("NOT_UTF8")
    packet = parse_data(text, _notes=notes)
    if modbus_ok:
        if modbus_crc is not True and packet.mn not in modbus_crc:  # type: ignore[operator]
            raise HJ212Error(Reason.BAD_CRC, f"MODBUS-style CRC not tolerated for MN {packet.mn!r}")
        packet = _with_notes(packet, ("CRC_MODBUS",))
    return packet


def _has_crlf(raw: bytes, end: int) -> bool:
    return end < len(raw)


_HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")


def _is_hex4(b: bytes) -> bool:
    return _HEX4.fullmatch(b) is not None


def _char_count(data: bytes) -> int:
    try:
        return len(data.decode("utf-8"))
    except UnicodeDecodeError:
        return -1


def _with_notes(packet: Packet, more: tuple[str, ...]) -> Packet:
    return Packet(
        cn=packet.cn,
        mn=packet.mn,
        st=packet.st,
        pw=packet.pw,
        qn=packet.qn,
        flag=packet.flag,
        pnum=packet.pnum,
        pno=packet.pno,
        cp=packet.cp,
        extra=packet.extra,
        notes=packet.notes + more,
        data=packet.data,
    )


def parse_data(text: str, *, _notes: list[str] | None = None) -> Packet:
    """Parse a data segment (``QN=...;ST=...;...;CP=&&...&&``) without length or CRC."""
    notes: list[str] = _notes if _notes is not None else []
    cp_at = text.find("CP=&&")
    if cp_at < 0:
        raise HJ212Error(Reason.BAD_FIELD, "no 'CP=&&' in the data segment")
    head = text[:cp_at]
    close = text.rfind("&&")
    if close < cp_at + 5:
        raise HJ212Error(Reason.BAD_FIELD, "CP is not closed by '&&'")
    cp_text = text[cp_at + 5 : close]
    tail = text[close + 2 :]
    if head and not head.endswith(";"):
        stripped = head.rstrip()
        if stripped.endswith(";"):
            notes.append("STRAY_SPACE")
        elif stripped.endswith(","):
            notes.append("COMMA_SEPARATOR")
        else:
            notes.append("MISSING_SEPARATOR_BEFORE_CP")
    if "," in head:
        head = head.replace(",", ";")
        if "COMMA_SEPARATOR" not in notes:
            notes.append("COMMA_SEPARATOR")
    header: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    _parse_header(head, header, extra, notes)
    if tail.strip(" ;"):
        notes.append("FIELDS_AFTER_CP")
        _parse_header(tail.replace(",", ";"), header, extra, notes)

    cn = header.get("CN")
    if not cn:
        raise HJ212Error(Reason.BAD_FIELD, "no CN")
    mn = header.get("MN")
    if not mn:
        raise HJ212Error(Reason.BAD_FIELD, "no MN")
    qn = header.get("QN")
    st = header.get("ST")
    pw = header.get("PW")
    flag = _opt_int(header, "Flag", notes, soft=True)
    pnum = _opt_int(header, "PNUM", notes, soft=False)
    pno = _opt_int(header, "PNO", notes, soft=False)

    if not (len(cn) == 4 and cn.isdigit()):
        notes.append("CN_FORMAT")
    if qn is None:
        notes.append("MISSING_QN")
    elif not (len(qn) == 17 and qn.isdigit()):
        notes.append("QN_FORMAT")
    if st is None:
        notes.append("MISSING_ST")
    if pw is None:
        notes.append("MISSING_PW")
    if len(mn) == 24 and _HEX.issuperset(mn):
        pass
    elif len(mn) == 14:
        notes.append("MN_14_CHARS")
    else:
        notes.append("MN_FORMAT")
    if flag is None:
        if "Flag" not in header:
            notes.append("MISSING_FLAG")
    elif not 0 <= flag <= 255:
        notes.append("FLAG_RANGE")
    if (pnum is None) != (pno is None):
        raise HJ212Error(Reason.BAD_FIELD, "PNUM and PNO must come together")
    if pnum is not None and pno is not None:
        if pnum < 1 or not 1 <= pno <= pnum:
            raise HJ212Error(Reason.BAD_FIELD, f"PNO={pno} out of range for PNUM={pnum}")
        if flag is not None and not flag & FLAG_SPLIT:
            notes.append("PNUM_WITHOUT_FLAG_D")
    elif flag is not None and flag & FLAG_SPLIT and (flag >> 2) != 0:
        # 2005 requests use Flag=3 without PNUM/PNO; for later editions D means split.
        notes.append("FLAG_D_WITHOUT_PNUM")

    version = Version.from_flag(flag if flag is not None and 0 <= flag <= 255 else None)
    cp = _parse_cp(cp_text, notes, version)
    return Packet(
        cn=cn,
        mn=mn,
        st=st,
        pw=pw,
        qn=qn,
        flag=flag,
        pnum=pnum,
        pno=pno,
        cp=cp,
        extra=tuple(extra),
        notes=tuple(notes),
        data=text,
    )


def _parse_header(
    head: str, header: dict[str, str], extra: list[tuple[str, str]], notes: list[str]
) -> None:
    for piece in head.split(";"):
        if not piece:
            continue
        key, eq, value = piece.partition("=")
        if " " in piece or "\t" in piece:
            key, value = key.strip(), value.strip()
            if "STRAY_SPACE" not in notes:
                notes.append("STRAY_SPACE")
            if not key and not eq:
                continue
        if not eq or not key:
            notes.append("HEADER_ITEM_WITHOUT_KEY")
            continue
        if key in header or any(k == key for k, _ in extra):
            notes.append(f"DUPLICATE_HEADER:{key}")
        if key in _HEADER_SET:
            header[key] = value
        else:
            extra.append((key, value))


_HEADER_SET = frozenset(HEADER_KEYS)


def _opt_int(header: dict[str, str], key: str, notes: list[str], *, soft: bool) -> int | None:
    value = header.get(key)
    if value is None:
        return None
    if value.isascii() and value.isdigit() and len(value) <= 6:
        return int(value)
    if soft:
        notes.append(f"{key.upper()}_FORMAT")
        return None
    raise HJ212Error(Reason.BAD_FIELD, f"{key}={value!r} is not a number")


# CP content where every piece between ';'/',' separators is exactly one key=value (the common
# case) is split with str methods in C instead of a Python loop per piece. The check: with every
# byte but ';' ',' '=' (and blanks, which need the slow path) deleted, the skeleton must read
# "=;=;...=", and no key may be empty.
_NOT_SEPARATOR = bytes(b for b in range(256) if b not in b";,= \t")


def _cp_pairs(cp_text: str, notes: list[str]) -> list[tuple[str, str]]:
    """(key, value) pairs of CP content; items are ';'-separated, fields ','-separated."""
    skeleton = cp_text.encode("utf-8", "surrogatepass").translate(None, _NOT_SEPARATOR)
    n = (len(skeleton) + 1) // 2
    if skeleton.replace(b",", b";") == b"=;" * (n - 1) + b"=":
        tokens = cp_text.replace(",", ";").replace("=", ";").split(";")
        keys = tokens[0::2]
        if "" not in keys:
            return list(zip(keys, tokens[1::2], strict=True))
    return _cp_pairs_slow(cp_text, notes)


def _cp_pairs_slow(cp_text: str, notes: list[str]) -> list[tuple[str, str]]:
    """Piece by piece, tolerating blanks, empty items and items without '='."""
    pairs = []
    for item in cp_text.split(";"):
        for piece in item.split(","):
            key, eq, value = piece.partition("=")
            if " " in piece or "\t" in piece:
                key, value = key.strip(), value.strip()
                if "STRAY_SPACE" not in notes:
                    notes.append("STRAY_SPACE")
            if not key and not eq:
                continue
            if not eq or not key:
                notes.append("CP_ITEM_WITHOUT_KEY")
                continue
            pairs.append((key, value))
    return pairs


_TOP, _NUMERIC, _TEXT, _FLAG = 0, 1, 2, 3
_KEY_INFO: dict[str, tuple[str, str, int]] = {}


def _key_info(key: str) -> tuple[str, str, int]:
    """(code, suffix, kind) of a CP key: ``a21026-Rtd`` -> ("a21026", "Rtd", numeric)."""
    info = _KEY_INFO.get(key)
    if info is not None:
        return info
    code, _, suffix = key.rpartition("-")
    if not code or not suffix:
        info = (key, "", _TOP)
    elif suffix in NUMERIC_SUFFIXES:
        info = (code, suffix, _NUMERIC)
    elif suffix == "Flag":
        info = (code, suffix, _FLAG)
    else:
        info = (code, suffix, _TEXT)
    if len(key) <= 40 and len(_KEY_INFO) < 50_000:  # bounded: keys come from the network
        _KEY_INFO[key] = info
    return info


def _parse_cp(cp_text: str, notes: list[str], version: Version) -> CP:
    cp: CP = {}
    if not cp_text:
        return cp
    known_flags = _KNOWN_FLAGS[version]
    key_info = _KEY_INFO.get
    pairs = _cp_pairs(cp_text, notes)
    clashes = 0
    for key, value in pairs:
        info = key_info(key) or _key_info(key)
        code, suffix, kind = info
        if kind == _TOP:
            # top-level key (DataTime, RtdInterval, QnRtn, QN of 2005 replies, ...)
            if type(cp.get(key)) is dict:
                notes.append(f"CP_KEY_CLASH:{key}")
                clashes += 1
                continue
            cp[key] = value
            continue
        fields = cp.get(code)
        if fields is None:
            fields = cp[code] = {}
        elif type(fields) is not dict:
            notes.append(f"CP_KEY_CLASH:{code}")
            clashes += 1
            continue
        if kind == _NUMERIC:
            if "." in value and "_" not in value:
                try:
                    number = float(value)
                except ValueError:
                    pass
                else:
                    if number - number == 0.0:  # finite
                        fields[suffix] = number
                        continue
            fields[suffix] = _number(value, key, notes)
        else:
            fields[suffix] = value
            if kind == _FLAG and value not in known_flags:
                notes.append(f"UNKNOWN_DATA_FLAG:{code}={value}")
    # a repeated key overwrote an earlier value: fewer values stored than pairs read
    stored = sum(len(v) if type(v) is dict else 1 for v in cp.values())
    if stored + clashes != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen and f"DUPLICATE:{key}" not in notes:
                notes.append(f"DUPLICATE:{key}")
            seen.add(key)
    return cp


_KNOWN_FLAGS = {v: known_data_flags(v) for v in Version}


def _number(text: str, key: str, notes: list[str]) -> CPValue:
    try:
        if "." in text or "e" in text or "E" in text:
            value = float(text)
            if math.isfinite(value) and "_" not in text:
                return value
        elif text.isascii() and (text.isdigit() or (text[:1] in "+-" and text[1:].isdigit())):
            return int(text)
    except ValueError:
        pass
    notes.append(f"NOT_A_NUMBER:{key}")
    return text


# --------------------------------------------------------------------------- building


def frame(data: str | bytes) -> bytes:
    """Wrap a data segment: ``##`` + length (UTF-8 bytes, 4 digits) + data + CRC + CR LF."""
    body = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(body) > MAX_DATA_LENGTH_FIELD:
        raise HJ212Error(Reason.TOO_LONG, f"data segment of {len(body)} bytes > 9999")
    return b"##%04d%s%04X\r\n" % (len(body), body, crc16(body))


def build(packet: Packet) -> bytes:
    """The bytes of ``packet``: header in the standard's order, CP items grouped per factor."""
    return frame(encode_data(packet))


def encode_data(packet: Packet) -> str:
    """The data segment of ``packet`` as text."""
    parts: list[str] = []
    if packet.qn is not None:
        parts.append("QN=" + _check_value(packet.qn, "QN"))
    if packet.st is not None:
        parts.append("ST=" + _check_value(packet.st, "ST"))
    parts.append("CN=" + _check_value(packet.cn, "CN"))
    if packet.pw is not None:
        parts.append("PW=" + _check_value(packet.pw, "PW"))
    if packet.mn is not None:
        parts.append("MN=" + _check_value(packet.mn, "MN"))
    if packet.flag is not None:
        parts.append(f"Flag={_check_int(packet.flag, 'Flag')}")
    if (packet.pnum is None) != (packet.pno is None):
        raise HJ212Error(Reason.BAD_FIELD, "PNUM and PNO must come together")
    if packet.pnum is not None:
        parts.append(f"PNUM={_check_int(packet.pnum, 'PNUM')}")
        parts.append(f"PNO={_check_int(packet.pno, 'PNO')}")
    for key, value in packet.extra:
        if key in _HEADER_SET or "CP" in key:
            raise HJ212Error(Reason.BAD_FIELD, f"extra header key {key!r} not allowed")
        parts.append(_check_key(key) + "=" + _check_value(value, key))
    parts.append("CP=&&" + encode_cp(packet.cp) + "&&")
    return ";".join(parts)


def encode_cp(cp: Mapping[str, Any]) -> str:
    """CP content: each top-level key its own item, each factor's fields one item."""
    items: list[str] = []
    for key, value in cp.items():
        if isinstance(value, Mapping):
            code = _check_key(key)
            fields = [
                f"{code}-{_check_suffix(suffix)}={_format_value(v, f'{code}-{suffix}')}"
                for suffix, v in value.items()
            ]
            if fields:
                items.append(",".join(fields))
        else:
            if "-" in key:
                raise HJ212Error(
                    Reason.BAD_FIELD, f"top-level CP key {key!r} contains '-' (reads as a factor)"
                )
            items.append(_check_key(key) + "=" + _format_value(value, key))
    return ";".join(items)


def _format_value(value: object, key: str) -> str:
    if isinstance(value, bool):
        raise HJ212Error(Reason.BAD_FIELD, f"{key}: bool is not an HJ 212 value")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise HJ212Error(Reason.BAD_FIELD, f"{key}: {value} is not a finite number")
        text = repr(value)
        if "e" in text or "E" in text:
            text = format(Decimal(text), "f")
            if "." not in text:
                text += ".0"
        return text
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise HJ212Error(Reason.BAD_FIELD, f"{key}: {value} is not a finite number")
        return format(value, "f")
    if isinstance(value, str):
        return _check_value(value, key)
    raise HJ212Error(Reason.BAD_FIELD, f"{key}: unsupported value type {type(value).__name__}")


def _check_value(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise HJ212Error(Reason.BAD_FIELD, f"{key} must be text")
    if (
        any(c in _FORBIDDEN_VALUE_CHARS for c in value)
        or value != value.strip()
        or "CP=&&" in value
    ):
        raise HJ212Error(Reason.BAD_FIELD, f"{key}={value!r}: ; , = & CR LF or edge spaces")
    return value


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise HJ212Error(Reason.BAD_FIELD, f"key {key!r} must be non-empty text")
    _check_value(key, "key")
    return key


def _check_suffix(suffix: object) -> str:
    text = _check_key(suffix)
    if "-" in text:
        raise HJ212Error(Reason.BAD_FIELD, f"field suffix {text!r} contains '-'")
    return text


def _check_int(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise HJ212Error(Reason.BAD_FIELD, f"{key}={value!r} must be a non-negative int")
    return value


def make(
    cn: str,
    mn: str,
    *,
    st: str | None = None,
    pw: str | None = None,
    qn: str | None = None,
    flag: int | None = None,
    pnum: int | None = None,
    pno: int | None = None,
    cp: Mapping[str, Any] | None = None,
    extra: tuple[tuple[str, str], ...] = (),
) -> Packet:
    """A :class:`Packet` to :func:`build` (keyword arguments named as the header fields)."""
    return Packet(
        cn=cn,
        mn=mn,
        st=st,
        pw=pw,
        qn=qn,
        flag=flag,
        pnum=pnum,
        pno=pno,
        cp={k: dict(v) if isinstance(v, Mapping) else v for k, v in (cp or {}).items()},
        extra=tuple(extra),
    )


# --------------------------------------------------------------------------- replies


def _reply_flag(request: Packet) -> int:
    """Flag of a reply: the request's version bits, no A, no D (2017: 4, 2025: 8)."""
    version = request.version
    return 4 if version is Version.UNKNOWN else version.bits


def make_reply(request: Packet, cn: str, cp: Mapping[str, Any] | None = None) -> Packet:
    """A system-interaction reply (ST=91) to ``request``, in the style of its edition.

    2017/2025: same QN, PW and MN, ST=91, Flag with the request's version bits only.
    2005: no QN in the header; the request's QN goes first inside CP, Flag=0.
    """
    body: dict[str, Any] = {}
    if request.version is Version.V2005:
        qn = request.qn
        if qn is not None:
            body["QN"] = qn
        body.update(cp or {})
        return make(cn, request.mn or "", st=ST_SYSTEM, pw=request.pw, flag=0, cp=body)
    body.update(cp or {})
    return make(
        cn,
        request.mn or "",
        st=ST_SYSTEM,
        pw=request.pw,
        qn=request.qn,
        flag=_reply_flag(request),
        cp=body,
    )


def reply_9014(request: Packet) -> bytes:
    """Data answer to an upload: same QN, PW, MN; ST=91; Flag=4 (2017); empty CP."""
    return _quick_reply(request, CN_DATA_ANSWER, "") or build(make_reply(request, CN_DATA_ANSWER))


def reply_9013(request: Packet) -> bytes:
    """Notice answer (e.g. to a device's 1013 time-calibration request)."""
    return _quick_reply(request, CN_NOTICE_ANSWER, "") or build(
        make_reply(request, CN_NOTICE_ANSWER)
    )


def reply_9011(request: Packet, qn_rtn: int = 1) -> bytes:
    """Request answer with ``QnRtn`` (1 ready, 2 refused, 3 PW error, 4 MN error, ... 9 CRC)."""
    return _quick_reply(request, CN_REQUEST_ANSWER, f"QnRtn={qn_rtn}") or build(
        make_reply(request, CN_REQUEST_ANSWER, {"QnRtn": str(qn_rtn)})
    )


# Header values that need none of build()'s checks: no separator, no '=', '&', blank or CR LF.
_PLAIN = re.compile(r"[0-9A-Za-z_.:+\-]*")


def _quick_reply(request: Packet, cn: str, cp_text: str) -> bytes | None:
    """The bytes ``build(make_reply(request, cn, cp))`` gives, from a template: one answer per
    packet uploaded, so they are made without a Packet and its checks. ``None`` when a header
    value is not plain (then the caller builds it the long way, checks included)."""
    qn, pw, mn = request.qn, request.pw, request.mn or ""
    plain = _PLAIN.fullmatch
    if not plain(mn) or (qn is not None and not plain(qn)) or (pw is not None and not plain(pw)):
        return None
    pw_item = "" if pw is None else f"PW={pw};"
    if request.version is Version.V2005:
        qn_item = "" if qn is None else f"QN={qn}" + (";" if cp_text else "")
        return frame(f"ST=91;CN={cn};{pw_item}MN={mn};Flag=0;CP=&&{qn_item}{cp_text}&&")
    qn_item = "" if qn is None else f"QN={qn};"
    flag = _reply_flag(request)
    return frame(f"{qn_item}ST=91;CN={cn};{pw_item}MN={mn};Flag={flag};CP=&&{cp_text}&&")


def reply_9012(request: Packet, exe_rtn: int = 1) -> bytes:
    """Execution result with ``ExeRtn`` (1 success, 2 failed, ... 100 no data)."""
    return build(make_reply(request, CN_EXECUTION_RESULT, {"ExeRtn": str(exe_rtn)}))


def required_reply(packet: Packet) -> bytes | None:
    """The answer the standard requires from the platform for a packet a device sent.

    1013 (time-calibration notice) -> 9013; any other non-9xxx packet with Flag bit A -> 9014
    (one per part of a split message: each part has its own QN); otherwise ``None``.
    """
    if packet.cn == CN_TIME_CALIBRATION_REQUEST:
        return reply_9013(packet)
    if packet.cn.startswith("90"):
        return None
    if packet.needs_ack:
        return reply_9014(packet)
    return None
