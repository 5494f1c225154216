"""Make hub/reports/fonts/wqy-microhei-gb2312.ttf: the bulletin chart's CJK font.

Source: WenQuanYi Micro Hei from Debian's package fonts-wqy-microhei (Apache-2.0 or GPL-3+ with
the font exception; its copyright file is kept beside the font). Subset with fontTools to
ASCII, Latin-1, CJK punctuation, full-width forms and every character of GB 2312 (6,763 hanzi:
any town name a county writes), so the hub ships ~2 MB instead of 5 MB and needs no system font.

    apt-get download fonts-wqy-microhei && dpkg-deb -x fonts-wqy-microhei_*.deb x
    python scripts/subset_font.py x/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

OUT = Path(__file__).resolve().parents[1] / "hub" / "reports" / "fonts" / "wqy-microhei-gb2312.ttf"


def gb2312() -> set[int]:
    found: set[int] = set()
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):
                found.add(ord(bytes([high, low]).decode("gb2312")))
    return found


def main(source: str) -> None:
    font = TTCollection(source).fonts[0]  # 0: WenQuanYi Micro Hei (1 is the Mono face)
    wanted = gb2312() | set(range(0x20, 0x7F)) | set(range(0xA0, 0x100))
    wanted |= (
        set(range(0x3000, 0x3040))
        | set(range(0xFF00, 0xFFF0))
        | {0x2014, 0x2026, 0x2018, 0x2019, 0x201C, 0x201D}
    )
    options = subset.Options()
    options.name_IDs = ["*"]  # keep the names, copyright and licence records
    options.name_languages = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(wanted))
    subsetter.subset(font)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(OUT))
    print(f"{OUT}: {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
