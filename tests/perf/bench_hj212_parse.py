"""HJ 212 parse throughput: packets per second parsed, CRC verified, on one core.

    python -m tests.perf.bench_hj212_parse [--seconds 3] [--budget 20000] [--no-fail]

The packet is a realistic HJ 212-2017 minute-data upload (CN=2051) from a flue-gas CEMS:
SO2, NOx and particulate with Cou/Min/Avg/Max, converted (Zs) values and flags, plus O2,
flow, velocity, temperature, pressure and humidity: about 900 bytes of data segment, below the
standard's 1024. Each iteration is ``parse(raw)`` with CRC verification, i.e. what the TCP path
does per packet (the framer adds a few byte searches). A smaller real-time packet (CN=2011) is
measured too, for reference. Prints the figures; exit 1 below the budget unless ``--no-fail``.
"""

from __future__ import annotations

import argparse
import sys
import time

from connectors.hj212 import build, make, parse

MN = "010000A8900016F000169DC0"


def minute_packet() -> bytes:
    cp: dict = {"DataTime": "20260301084000"}
    for code, base in (("a21026", 35.2), ("a21002", 88.7), ("a34013", 4.31)):
        cp[code] = {
            "Cou": round(base * 0.61, 3),
            "Min": round(base * 0.9, 2),
            "Avg": base,
            "Max": round(base * 1.12, 2),
            "ZsMin": round(base * 1.2, 2),
            "ZsAvg": round(base * 1.31, 2),
            "ZsMax": round(base * 1.44, 2),
            "Flag": "N",
        }
    for code, avg in (
        ("a19001", 9.8),
        ("a00000", 52.31),
        ("a01011", 12.45),
        ("a01012", 48.6),
        ("a01013", -0.125),
        ("a01014", 7.9),
    ):
        cp[code] = {
            "Min": round(avg * 0.95, 3),
            "Avg": avg,
            "Max": round(avg * 1.05, 3),
            "Flag": "N",
        }
    packet = make("2051", MN, qn="20260301084012345", st="31", pw="123456", flag=5, cp=cp)
    return build(packet)


def realtime_packet() -> bytes:
    cp: dict = {"DataTime": "20260301084012"}
    for code, rtd in (("a21026", 35.2), ("a21002", 88.7), ("a34013", 4.31), ("a19001", 9.8)):
        cp[code] = {"Rtd": rtd, "ZsRtd": round(rtd * 1.3, 2), "Flag": "N"}
    return build(make("2011", MN, qn="20260301084012345", st="31", pw="123456", flag=5, cp=cp))


def rate(raw: bytes, seconds: float) -> float:
    parse(raw)  # warm up, and fail loudly if the packet is bad
    n = 0
    batch = 1000
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            parse(raw)
        n += batch
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--budget", type=float, default=20_000.0)
    ap.add_argument("--no-fail", action="store_true")
    args = ap.parse_args(argv)

    minute = minute_packet()
    realtime = realtime_packet()
    data_len = int(minute[2:6])
    assert data_len <= 1024, data_len
    per_s = rate(minute, args.seconds)
    rt_per_s = rate(realtime, args.seconds / 2)
    print(
        f"hj212 parse+CRC, 2017 minute data (CN=2051, {data_len}-byte data segment, "
        f"{len(parse(minute).factors)} factors): {per_s:,.0f} packets/s on one core "
        f"(budget {args.budget:,.0f})"
    )
    print(
        f"hj212 parse+CRC, real-time data (CN=2011, {int(realtime[2:6])} bytes): {rt_per_s:,.0f}/s"
    )
    if per_s < args.budget and not args.no_fail:
        print("BELOW BUDGET", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
