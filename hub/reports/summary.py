"""The bulletin's summary paragraph, written from its figures in Chinese (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Figures:
    """One town's line of the bulletin, as the text needs it."""

    name: str
    rank: int
    found: int
    solved: int
    solved_on_site: int
    platform_assigned: int
    joint_actions: int
    yellow_cards: int
    red_cards: int
    on_time: int
    judged: int  # resolved + open overdue: the on-time rate's base

    @property
    def on_time_rate(self) -> float | None:
        return round(self.on_time / self.judged, 4) if self.judged else None


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def summary(period: str, towns: Sequence[Figures]) -> str:
    """One paragraph: the totals, the cards, the on-time rate, the first and the last."""
    if not towns:
        return f"{period}，没有可通报的乡镇（街道）。"
    total = {
        name: sum(getattr(t, name) for t in towns)
        for name in (
            "found",
            "solved",
            "solved_on_site",
            "platform_assigned",
            "joint_actions",
            "yellow_cards",
            "red_cards",
            "on_time",
            "judged",
        )
    }
    rate = round(total["on_time"] / total["judged"], 4) if total["judged"] else None
    parts = [
        f"{period}，全县{len(towns)}个乡镇（街道）共发现环境问题{total['found']}件，"
        f"办结{total['solved']}件，其中现场解决{total['solved_on_site']}件；"
        f"社管平台交办{total['platform_assigned']}件，联合执法{total['joint_actions']}次。"
    ]
    if total["yellow_cards"] or total["red_cards"]:
        carded = [t.name for t in towns if t.yellow_cards or t.red_cards]
        parts.append(
            f"本季度共亮黄牌{total['yellow_cards']}张、红牌{total['red_cards']}张，"
            f"涉及{'、'.join(carded)}。"
        )
    else:
        parts.append("本季度未出现红黄牌。")
    if rate is None:
        parts.append("本季度没有到期或办结的问题，未计算按时办结率。")
        return "".join(parts)
    parts.append(f"全县按时办结率为{percent(rate)}。")
    first = [t.name for t in towns if t.rank == 1 and t.on_time_rate is not None]
    if first:
        parts.append(
            f"按时办结率排名第一的是{'、'.join(first)}（{percent(towns[0].on_time_rate)}）"
        )
        judged = [t for t in towns if t.on_time_rate is not None]
        last_rank = max(t.rank for t in judged)
        last = [t.name for t in judged if t.rank == last_rank]
        if last_rank > 1:
            parts.append(
                f"，排名末位的是{'、'.join(last)}（{percent(judged[-1].on_time_rate)}），请加强督办"
            )
        parts.append("。")
    return "".join(parts)
