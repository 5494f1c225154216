"""The HJ 212 Appendix A CRC: check values, the fast implementation against the definition."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.hj212 import crc16, crc16_modbus, crc_text
from connectors.hj212.crc import TABLE, crc16_reference, matches_modbus

APPENDIX_DATA = (
    b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
    b"Flag=5;CP=&&RtdInterval=30&&"
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0xFFFF),
        (b"\x00", 0x4040),
        (b"123456789", 0x2F80),
        (APPENDIX_DATA, 0x1C80),  # HJ 212-2017 Appendix A, p.20
        (
            b"QN=20240601085857223;ST=32;CN=1011;PW=123456;MN=010000A8900016F000169DC0;"
            b"Flag=9;CP=&&&&",
            0x2200,
        ),  # HJ 212-2025 A.1 as transcribed publicly
    ],
)
def test_check_values(data: bytes, expected: int) -> None:
    assert crc16(data) == expected
    assert crc16_reference(data) == expected


def test_not_modbus() -> None:
    assert crc16_modbus(b"123456789") == 0x4B37
    assert crc16_modbus(APPENDIX_DATA) == 0x0759
    assert crc16(APPENDIX_DATA) != crc16_modbus(APPENDIX_DATA)
    assert matches_modbus(APPENDIX_DATA, 0x0759)
    assert matches_modbus(APPENDIX_DATA, 0x5907)  # byte-swapped
    assert not matches_modbus(APPENDIX_DATA, 0x1C80)


def test_table_entries() -> None:
    assert TABLE[1] == 0xC0C1 and TABLE[2] == 0xC181 and TABLE[3] == 0x0140


def test_crc_text_is_zero_padded_upper_case() -> None:
    assert crc_text(b"\x00") == "4040"
    texts = {crc_text(bytes([i, j])) for i in range(0, 256, 17) for j in range(256)}
    assert all(len(t) == 4 and t == t.upper() for t in texts)
    assert any(t.startswith("0") for t in texts)


def test_only_256_values_low_byte_pattern() -> None:
    # The register keeps only its high byte between bytes: the CRC is always a table entry.
    lows = {
        crc16(bytes([a, b, c])) & 0xFF for a in range(0, 256, 5) for b in (0, 7) for c in range(256)
    }
    assert lows <= {0x00, 0x01, 0x40, 0x41, 0x80, 0x81, 0xC0, 0xC1}


@pytest.mark.parametrize("n", [*range(0, 40), 63, 64, 65, 127, 128, 129, 1023, 1024, 1025, 9999])
def test_fast_equals_reference_at_fold_boundaries(n: int) -> None:
    data = bytes((i * 131 + 7) % 256 for i in range(n))
    assert crc16(data) == crc16_reference(data)


@given(st.binary(max_size=3000))
def test_fast_equals_reference(data: bytes) -> None:
    assert crc16(data) == crc16_reference(data)
    assert crc16(bytearray(data)) == crc16(memoryview(data)) == crc16(data)
