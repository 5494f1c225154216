"""Names of HJ 212 factor codes (HJ 212-2017 Appendix B; 2005 codes where devices still send
them), for case titles and descriptions that people read (pure)."""

from __future__ import annotations

NAMES: dict[str, str] = {
    "a34004": "PM2.5",
    "a34002": "PM10",
    "a34001": "总悬浮颗粒物",
    "a21026": "二氧化硫",
    "a21004": "二氧化氮",
    "a21003": "一氧化氮",
    "a21002": "氮氧化物",
    "a21005": "一氧化碳",
    "a05024": "臭氧",
    "a34013": "烟尘",
    "a00000": "废气流量",
    "a19001": "氧含量",
    "a24088": "非甲烷总烃",
    "w00000": "污水流量",
    "w01018": "化学需氧量",
    "w21003": "氨氮",
    "w21011": "总磷",
    "w21001": "总氮",
    "w01001": "pH值",
    "w01012": "悬浮物",
    "LA": "噪声",
    "Leq": "等效声级",
    # HJ/T 212-2005 codes
    "01": "烟尘",
    "02": "二氧化硫",
    "03": "氮氧化物",
    "04": "一氧化碳",
    "011": "化学需氧量",
    "060": "氨氮",
    "001": "pH值",
}


def name_of(code: str) -> str:
    """The reader's name of a factor code; the code itself when it is not in the table."""
    return NAMES.get(code, code)
