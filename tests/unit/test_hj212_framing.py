"""The streaming framer (split, coalesced, garbage, too long) and the PNUM/PNO assembler."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.hj212 import (
    Assembler,
    Framer,
    FrameResult,
    HJ212Error,
    Reason,
    build,
    frame,
    make,
    parse,
    required_reply,
)

MN = "010000A8900016F000169DC0"


def packet(i: int, **kw) -> bytes:
    cp = kw.pop(
        "cp", {"DataTime": f"2026030108{i % 60:02d}00", "a21026": {"Rtd": i + 0.5, "Flag": "N"}}
    )
    return build(
        make(
            "2011",
            MN,
            qn=f"20260301080000{i % 1000:03d}",
            st="31",
            pw="123456",
            flag=5,
            cp=cp,
            **kw,
        )
    )


P1, P2, P3 = packet(1), packet(2), packet(3)


def feed_all(framer: Framer, chunks: list[bytes]) -> list[FrameResult]:
    out: list[FrameResult] = []
    for chunk in chunks:
        out += framer.feed(chunk)
    return out


def summary(results: list[FrameResult]) -> list[str]:
    return [r.packet.qn[-3:] if r.ok else str(r.error.reason) for r in results]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([P1], ["001"]),
        ([P1 + P2 + P3], ["001", "002", "003"]),  # coalesced
        ([P1[:1], P1[1:2], P1[2:7], P1[7:50], P1[50:]], ["001"]),  # split
        ([P1[:-1], P1[-1:] + P2[:3], P2[3:]], ["001", "002"]),  # split across the boundary
        ([b"garbage" + P1], ["GARBAGE", "001"]),
        ([P1 + b"\x00\xffjunk" + P2], ["001", "GARBAGE", "002"]),
        ([P1 + b"\r\n\r\n  " + P2], ["001", "002"]),  # whitespace between packets is no garbage
        ([b"#", b"#", P1[2:]], ["001"]),  # "##" split between reads
        ([b"###" + P1[2:]], ["BAD_HEADER", "001"]),  # a stray '#' before the packet
        ([b"##abcd" + P1], ["BAD_HEADER", "001"]),
        ([b"##0020CN=2011;MN=1;CP=&&&&ZZZZ\r\n" + P1], ["BAD_CRC", "001"]),
        ([P1[:-6] + b"0000\r\n" + P2], ["BAD_CRC", "002"]),  # wrong CRC, next packet kept
        ([P1[:40] + P2], ["BAD_LENGTH", "002"]),  # truncated packet, next one rescued
        ([P1[:40], P2], ["BAD_LENGTH", "002"]),  # ... also when it arrives later
        ([b"##9000" + b"x" * 50 + P1], ["TOO_LONG", "001"]),
        ([P1[:-2] + P2], ["001", "002"]),  # a packet without CR LF, the next one right after
        ([P1[:-2] + b"\n" + P2[:-2] + b"\n"], ["001", "002"]),  # LF only
        ([P1[:6] + b"\r\n" + P2], ["INCOMPLETE", "002"]),
    ],
)
def test_framer_table(chunks: list[bytes], expected: list[str]) -> None:
    framer = Framer(max_length=1024)
    results = feed_all(framer, chunks)
    assert summary(results) == expected
    assert framer.buffered == 0
    for r in results:
        assert (r.packet is None) != (r.error is None)


def test_framer_waits_for_the_rest_without_dropping() -> None:
    framer = Framer()
    assert framer.feed(P1[:30]) == []
    assert framer.buffered == 30
    (result,) = framer.feed(P1[30:])
    assert result.ok and result.raw == P1


def test_framer_too_long_uses_configured_maximum() -> None:
    big = packet(1, cp={"x": "y" * 1500})
    assert summary(Framer(max_length=2000).feed(big)) == ["001"]
    results = Framer(max_length=1024).feed(big + P2)
    assert summary(results)[0] == "TOO_LONG" and summary(results)[-1] == "002"


def test_framer_flush() -> None:
    framer = Framer()
    framer.feed(P1[:20])
    (left,) = framer.flush()
    assert left.error is not None and left.error.reason is Reason.INCOMPLETE
    assert framer.flush() == [] and framer.buffered == 0


def test_framer_modbus_tolerance_passed_through() -> None:
    from connectors.hj212 import crc16_modbus

    data = b"QN=20260301080000001;ST=31;CN=2011;PW=1;MN=" + MN.encode() + b";Flag=5;CP=&&&&"
    raw = b"##%04d%s%04X\r\n" % (len(data), data, crc16_modbus(data))
    assert summary(Framer().feed(raw)) == ["BAD_CRC"]
    assert summary(Framer(modbus_crc={MN}).feed(raw)) == ["001"]


def test_framer_rejects_bad_max() -> None:
    with pytest.raises(ValueError):
        Framer(max_length=0)


@settings(max_examples=200)
@given(
    st.lists(st.integers(0, 3), min_size=1, max_size=8), st.lists(st.integers(1, 200), max_size=30)
)
def test_framer_any_split_gives_the_same_packets(order: list[int], cuts: list[int]) -> None:
    garbage = [b"", b"junk", b"\r\n", b"#"]
    stream = b"".join(garbage[i] + packet(n) for n, i in enumerate(order))
    chunks, pos = [], 0
    for cut in cuts:
        chunks.append(stream[pos : pos + cut])
        pos += cut
    chunks.append(stream[pos:])
    framer = Framer()
    results = feed_all(framer, chunks)
    assert [r.packet.qn for r in results if r.ok] == [
        f"20260301080000{n:03d}" for n in range(len(order))
    ]  # type: ignore[union-attr]


@settings(max_examples=300)
@given(
    st.lists(
        st.binary(max_size=120) | st.sampled_from([P1, P2, P1[:50], b"##", b"##0", b"\r\n"]),
        max_size=20,
    )
)
def test_framer_fuzz(chunks: list[bytes]) -> None:
    framer = Framer(max_length=512)
    for chunk in chunks:
        for r in framer.feed(chunk):
            assert isinstance(r, FrameResult)
            assert r.error is None or (
                isinstance(r.error, HJ212Error) and r.error.reason is not Reason.INTERNAL
            )
        assert framer.buffered <= 512 + 12 + 120  # bounded: one packet plus one read
    framer.flush()


def test_framer_big_garbage_is_linear() -> None:
    # No timing assert (machine noise): a framer that rescanned its buffer would take hours on
    # these 2 MB, and the bound on what it keeps is what makes it linear.
    framer = Framer()
    for _ in range(200):
        framer.feed(b"#x" * 5000)
        assert framer.buffered <= 10_000 + 120
    assert framer.feed(P1)[-1].ok


# --------------------------------------------------------------------------- assembler


def part(pno: int, pnum: int = 3, cp: dict | None = None, mn: str = MN) -> bytes:
    return build(
        make(
            "2051",
            mn,
            qn=f"20260301080000{pno:03d}",
            st="31",
            pw="1",
            flag=7,
            pnum=pnum,
            pno=pno,
            cp=cp
            if cp is not None
            else {"DataTime": "20260301080000", f"a0{pno}": {"Avg": float(pno)}},
        )
    )


def test_assembler_in_order_and_out_of_order() -> None:
    for order in ([1, 2, 3], [3, 1, 2], [2, 3, 1]):
        asm = Assembler()
        outs = [asm.add(parse(part(n))) for n in order]
        assert outs[:-1] == [None, None]
        message = outs[-1]
        assert message is not None and asm.pending == 0
        assert [p.pno for p in message.parts] == [1, 2, 3]
        assert message.cp == {
            "DataTime": "20260301080000",
            "a01": {"Avg": 1.0},
            "a02": {"Avg": 2.0},
            "a03": {"Avg": 3.0},
        }
        assert message.qns == ("20260301080000001", "20260301080000002", "20260301080000003")
        assert (message.cn, message.mn, message.st) == ("2051", MN, "31")


def test_each_part_gets_its_own_9014() -> None:
    replies = [parse(required_reply(parse(part(n))) or b"") for n in (1, 2, 3)]
    assert [r.qn for r in replies] == [
        "20260301080000001",
        "20260301080000002",
        "20260301080000003",
    ]


def test_assembler_unsplit_and_single_part() -> None:
    asm = Assembler()
    message = asm.add(parse(P1))
    assert message is not None and message.parts[0].qn and message.cp["a21026"]["Rtd"] == 1.5
    assert asm.add(parse(part(1, pnum=1))) is not None


def test_assembler_retry_replaces_and_devices_kept_apart() -> None:
    asm = Assembler()
    assert asm.add(parse(part(1))) is None
    assert asm.add(parse(part(1))) is None  # a retry of part 1
    assert asm.add(parse(part(1, mn="OTHER000000001"))) is None
    assert asm.pending == 2
    assert asm.add(parse(part(2))) is None
    message = asm.add(parse(part(3)))
    assert message is not None and message.mn == MN and asm.pending == 1


def test_assembler_merges_fields_and_notes_disagreement() -> None:
    asm = Assembler()
    asm.add(parse(part(1, 2, {"DataTime": "1", "a": {"Avg": 1.0}})))
    message = asm.add(parse(part(2, 2, {"DataTime": "2", "a": {"Max": 2.0}})))
    assert message is not None
    assert message.cp == {"DataTime": "1", "a": {"Avg": 1.0, "Max": 2.0}}
    assert "PARTS_DISAGREE:DataTime" in message.notes


def test_assembler_expiry_and_bound() -> None:
    asm = Assembler(timeout=10, max_pending=2)
    asm.add(parse(part(1)), now=0)
    asm.add(parse(part(1, mn="A0000000000001")), now=1)
    asm.add(parse(part(1, mn="A0000000000002")), now=2)
    assert asm.pending == 2  # the oldest dropped
    dropped = asm.expire(now=100)
    assert asm.pending == 0 and len(dropped) == 2
    asm.add(parse(part(1)), now=0)
    assert asm.add(parse(part(2)), now=50) is None  # part 1 expired first
    assert asm.pending == 1


def test_frame_helper_matches_build() -> None:
    assert frame(parse(P1).data or "") == P1
