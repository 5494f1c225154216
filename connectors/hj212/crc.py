"""CRC of HJ 212 (Appendix A of HJ 212-2017, "ANSI CRC16"), and the MODBUS variant some devices use.

The appendix algorithm replaces the register with ``(reg >> 8) ^ byte`` before the eight shift
/XOR-0xA001 rounds: only the old *high* byte survives, so the state between bytes is 8 bits and
one table lookup per byte suffices: ``reg = T[(reg >> 8) ^ b]``. CRC-16/MODBUS instead computes
``reg = (reg >> 8) ^ T[(reg ^ b) & 0xFF]``. Check values: ``crc16(b"") == 0xFFFF``,
``crc16(b"123456789") == 0x2F80`` (MODBUS gives 0x4B37).
"""

from __future__ import annotations


def _reflected_table(poly: int = 0xA001) -> tuple[int, ...]:
    table = []
    for i in range(256):
        reg = i
        for _ in range(8):
            reg = (reg >> 1) ^ poly if reg & 1 else reg >> 1
        table.append(reg)
    return tuple(table)


TABLE: tuple[int, ...] = _reflected_table()
# High byte of each table entry: the only state carried from one byte to the next.
_HIGH: bytes = bytes(v >> 8 for v in TABLE)


def crc16(data: bytes | bytearray | memoryview) -> int:
    """The HJ 212 Appendix A CRC of ``data`` (the data segment's bytes)."""
    n = len(data)
    if n == 0:
        return 0xFFFF
    high = _HIGH
    h = 0xFF
    for b in data[: n - 1]:
        h = high[h ^ b]
    return TABLE[h ^ data[n - 1]]


def crc16_modbus(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/MODBUS (init 0xFFFF, reflected 0x8005), which some devices send instead."""
    table = TABLE
    reg = 0xFFFF
    for b in data:
        reg = (reg >> 8) ^ table[(reg ^ b) & 0xFF]
    return reg


def crc_text(data: bytes | bytearray | memoryview) -> str:
    """The four upper-case hex digits a packet carries for ``data``."""
    return f"{crc16(data):04X}"


def matches_modbus(data: bytes | bytearray | memoryview, value: int) -> bool:
    """Does ``value`` equal the MODBUS CRC of ``data`` in either byte order?"""
    m = crc16_modbus(data)
    return value == m or value == (((m & 0xFF) << 8) | (m >> 8))
