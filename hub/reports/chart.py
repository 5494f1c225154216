"""The bulletin's bar chart of towns, drawn with matplotlib (Agg, no display) in the CJK font
the hub ships (fonts/wqy-microhei-gb2312.ttf): town names render as characters, not boxes."""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from hub.reports.summary import Figures

FONT = Path(__file__).resolve().parent / "fonts" / "wqy-microhei-gb2312.ttf"


@cache
def _font() -> Any:
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(FONT))
    return font_manager.FontProperties(fname=str(FONT))


def bar_chart(title: str, towns: Sequence[Figures]) -> bytes:
    """A PNG: problems found, solved and solved on site per town, in rank order."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    font = _font()
    names = [t.name for t in towns]
    series = (
        ("发现问题", [t.found for t in towns], "#4e79a7"),
        ("办结", [t.solved for t in towns], "#59a14f"),
        ("现场解决", [t.solved_on_site for t in towns], "#f28e2b"),
    )
    figure = Figure(figsize=(max(6.0, 0.9 * len(towns) + 2), 4.2), dpi=150)
    axes = figure.add_subplot()
    width = 0.27
    for i, (label, values, color) in enumerate(series):
        axes.bar(
            [x + (i - 1) * width for x in range(len(towns))],
            values,
            width,
            label=label,
            color=color,
        )
    axes.set_xticks(range(len(towns)))
    axes.set_xticklabels(names, fontproperties=font, rotation=30, ha="right")
    axes.set_ylabel("件数", fontproperties=font)
    axes.set_title(title, fontproperties=font)
    axes.legend(prop=font)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
