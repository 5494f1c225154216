"""Real packets from the public record (tests/unit/hj212_samples, each with its source noted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.hj212 import (
    Framer,
    HJ212Error,
    Reason,
    Version,
    build,
    crc_text,
    parse,
    required_reply,
)

SAMPLES = Path(__file__).parent / "hj212_samples"


def load() -> list[tuple[str, str, bytes]]:
    """(file:line, expectation, packet bytes with CR LF) for every packet line."""
    out = []
    for path in sorted(SAMPLES.glob("*.txt")):
        expect = None
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("// expect:"):
                expect = line.split(":", 1)[1].strip()
            elif line.startswith("##"):
                assert expect, f"{path.name}:{number} has no '// expect:' line before it"
                out.append((f"{path.name}:{number}", expect, line.encode("utf-8") + b"\r\n"))
    return out


ALL = load()
GOOD = [s for s in ALL if s[1] == "ok"]
BAD = [s for s in ALL if s[1] != "ok"]


def test_there_are_enough_samples() -> None:
    assert len(GOOD) >= 25 and len(BAD) >= 4
    assert len({s[0].split(":")[0] for s in GOOD}) >= 4  # from several sources


@pytest.mark.parametrize(("where", "expect", "raw"), GOOD, ids=[s[0] for s in GOOD])
def test_real_packets_parse_and_crc_verifies(where: str, expect: str, raw: bytes) -> None:
    packet = parse(raw)
    assert packet.cn and packet.mn
    assert packet.data is not None and len(packet.data.encode()) == int(raw[2:6])
    # the CRC text in the packet equals the computed one, case-insensitively
    assert crc_text(packet.data.encode()) == raw[-6:-2].decode().upper()
    assert "CRC_MODBUS" not in packet.notes


@pytest.mark.parametrize(("where", "expect", "raw"), BAD, ids=[s[0] for s in BAD])
def test_public_samples_with_wrong_crc_are_rejected(where: str, expect: str, raw: bytes) -> None:
    with pytest.raises(HJ212Error) as info:
        parse(raw)
    assert info.value.reason == Reason(expect)
    # with CRC checking off they are still readable packets
    assert parse(raw, verify_crc=False).cn in ("2011", "2051")


def test_standard_example_fields() -> None:
    packet = parse(good_by_name("standard_appendix.txt")[0])
    assert packet.qn == "20160801085857223"
    assert packet.st == "32" and packet.cn == "1062" and packet.pw == "100000"
    assert packet.mn == "010000A8900016F000169DC0"
    assert packet.flag == 5 and packet.version is Version.V2017 and packet.needs_ack
    assert packet.cp == {"RtdInterval": "30"}
    assert packet.notes == ()
    assert build(packet) == good_by_name("standard_appendix.txt")[0]  # the builder matches it


def test_2025_example_version() -> None:
    packet = parse(good_by_name("standard_appendix.txt")[1])
    assert packet.flag == 9 and packet.version is Version.V2025 and packet.needs_ack
    assert packet.cp == {}
    reply = required_reply(packet)
    assert reply is not None and b"ST=91;CN=9014" in reply and b"Flag=8" in reply


def test_2005_field_traffic_notes() -> None:
    packets = [parse(raw) for _, _, raw in GOOD if raw.startswith(b"##0382")]
    (packet,) = packets
    assert packet.version is Version.V2005
    assert {"MISSING_QN", "MISSING_FLAG", "MN_14_CHARS"} <= set(packet.notes)
    assert packet.cp["01"] == {"Rtd": 3.56, "Flag": "N", "ZsRtd": 4.93}
    assert packet.cp["B02"] == {"Rtd": 38.57}
    assert required_reply(packet) is None  # 2005 uploads without Flag get no answer


def test_real_packets_round_trip_where_values_are_canonical() -> None:
    # Packets whose numbers are already in Python's shortest form come back byte for byte.
    same = [raw for _, _, raw in GOOD if build(parse(raw)).upper() == raw.upper()]
    assert len(same) >= 5


def test_all_good_samples_through_one_framer_in_small_reads() -> None:
    stream = b"".join(raw for _, _, raw in GOOD)
    framer = Framer()
    results = []
    for i in range(0, len(stream), 37):
        results += framer.feed(stream[i : i + 37])
    assert [r.error for r in results if not r.ok] == []
    assert len(results) == len(GOOD)


def good_by_name(name: str) -> list[bytes]:
    return [raw for where, _, raw in GOOD if where.startswith(name)]
