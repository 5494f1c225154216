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


def _powers() -> tuple[bytes, ...]:
    """``_POW[r][b]``: the byte-to-byte step ``b -> _HIGH[b]`` applied r times (r = 0..7)."""
    out = [bytes(range(256))]
    for _ in range(7):
        out.append(bytes(_HIGH[b] for b in out[-1]))
    assert bytes(_HIGH[b] for b in out[-1]) == out[0]  # the step has period 8
    return tuple(out)


_POW = _powers()
_MASKS = {size: (1 << (8 * size)) - 1 for size in (1 << k for k in range(3, 15))}


def crc16_reference(data: bytes | bytearray | memoryview) -> int:
    """The appendix algorithm byte by byte: slow, the definition :func:`crc16` is tested against."""
    reg = 0xFFFF
    for b in data:
        reg = (reg >> 8) ^ b
        for _ in range(8):
            reg = (reg >> 1) ^ 0xA001 if reg & 1 else reg >> 1
    return reg


def crc16(data: bytes | bytearray | memoryview) -> int:
    """The HJ 212 Appendix A CRC of ``data`` (the data segment's bytes).

    Per byte the 8-bit state is ``x_k = H(x_(k-1)) ^ b_k`` with ``H = _HIGH``, and the CRC is
    ``TABLE[x_n]``. ``H`` is linear over GF(2) (a CRC table is) and ``H^8`` is the identity, so
    ``x_n = H^(n-1)(0xFF) ^ XOR_r H^r(XOR of the bytes at distance r mod 8 from the end)``.
    XOR-folding the data as one big integer gives those eight bytes in C speed: the cost no
    longer grows byte by byte in Python.
    """
    n = len(data)
    if n == 0:
        return 0xFFFF
    x = int.from_bytes(data, "big")
    size = 8
    while size < n:
        size <<= 1
    while size > 8:
        size >>= 1
        mask = _MASKS.get(size)
        if mask is None:
            mask = (1 << (8 * size)) - 1
        x = (x >> (8 * size)) ^ (x & mask)
    p = _POW
    state = (
        p[(n - 1) & 7][0xFF]
        ^ p[0][x & 0xFF]
        ^ p[1][(x >> 8) & 0xFF]
        ^ p[2][(x >> 16) & 0xFF]
        ^ p[3][(x >> 24) & 0xFF]
        ^ p[4][(x >> 32) & 0xFF]
        ^ p[5][(x >> 40) & 0xFF]
        ^ p[6][(x >> 48) & 0xFF]
        ^ p[7][x >> 56]
    )
    return TABLE[state]


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
