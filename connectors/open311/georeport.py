"""Open311 GeoReport v2 as the hub speaks it, pure: the form of a POST request turned into the
intake's RegisterInput, the public view turned into GeoReport's service request, and errors in
GeoReport's shape (``[{"code": 400, "description": "..."}]``).

Field names are the specification's (wiki.open311.org/GeoReport_v2): service_code, lat, long,
address_string, description, first_name, last_name, phone, email, device_id, account_id,
media_url; answers service_request_id, status (open/closed), status_notes, service_name,
requested_datetime, updated_datetime, expected_datetime, address, lat, long.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from hub.cases import inputs
from hub.cases.enums import CATEGORY_LABELS, Category, Channel
from hub.public.service import PublicRequest, Search
from hub.public.view import OPEN311_OPEN
from hub.validation import LIMITS

LAT_RANGE = (3.0, 54.0)  # China's bounding box, roughly (as the ingest routes check)
LON_RANGE = (73.0, 136.0)
TITLE_CHARS = 60
DEFAULT_DAYS = 90  # the specification's default window for GET requests
MAX_RESULTS = 200
GROUP = "生态环境"
# What each service is about, for the apps' pickers.
SERVICE_WORDS: dict[str, str] = {
    Category.AIR: "废气、异味、烟尘、露天焚烧",
    Category.WATER: "污水直排、河道水体污染",
    Category.NOISE: "工业、建筑施工、社会生活噪声",
    Category.DUST: "工地、道路、堆场扬尘",
    Category.SOLID_WASTE: "固体废物、危险废物倾倒",
    Category.VEHICLE: "机动车冒黑烟",
    Category.SOIL: "土壤污染",
    Category.OTHER: "其他生态环境问题",
}
# The intake's field names -> the specification's (in errors).
FIELDS = {
    "title": "description",
    "description": "description",
    "reporterName": "first_name",
    "reporterPhone": "phone",
    "address": "address_string",
    "latitude": "lat",
    "longitude": "long",
    "category": "service_code",
    "tenantCode": "address_string",
    "externalId": "Idempotency-Key",
}
# Kept in the report's payload as sent; api_key never is.
KEPT = (
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "description",
    "first_name",
    "last_name",
    "phone",
    "email",
    "device_id",
    "account_id",
    "media_url",
    "jurisdiction_id",
)


class GeoReportError(Exception):
    """A refusal in GeoReport's shape; ``field`` is the specification's name of the field."""

    def __init__(self, status: int, description: str, field: str | None = None) -> None:
        if field and field not in description:
            description = f"{field}：{description}"  # the description names the field
        super().__init__(description)
        self.status, self.description, self.field = status, description, field

    def body(self) -> list[dict[str, Any]]:
        error: dict[str, Any] = {"code": self.status, "description": self.description}
        if self.field:
            error["field"] = self.field
        return [error]


def bad(field: str, words: str) -> GeoReportError:
    return GeoReportError(400, f"{field}：{words}", field)


def services() -> list[dict[str, Any]]:
    return [
        {
            "service_code": category.value,
            "service_name": CATEGORY_LABELS[category],
            "description": SERVICE_WORDS[category],
            "metadata": False,
            "type": "realtime",
            "keywords": SERVICE_WORDS[category].replace("、", ","),
            "group": GROUP,
        }
        for category in Category
    ]


def _text(fields: dict[str, str], name: str, limit: int) -> str | None:
    value = fields.get(name)
    if value is None or not value.strip():
        return None
    if len(value) > limit:
        raise bad(name, f"过长（至多 {limit} 个字符）")
    if "\x00" in value:
        raise bad(name, "含有空字符（NUL）")
    return value.strip()


def _coordinate(fields: dict[str, str], name: str, bounds: tuple[float, float]) -> float | None:
    raw = _text(fields, name, 40)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise bad(name, "须为数字（WGS 84 十进制度）") from None
    if not math.isfinite(value) or not bounds[0] <= value <= bounds[1]:
        raise bad(name, "不在中国境内")
    return value


def category_of(code: str | None) -> Category:
    if code is None:
        raise bad("service_code", "不能为空（可选值见 services.json）")
    try:
        return Category(code.strip().upper())
    except ValueError:
        raise bad("service_code", f"未知的服务代码 {code[:40]}（可选值见 services.json）") from None


def title_of(description: str) -> str:
    """The first sentence, at most 60 characters."""
    first = next((s for s in re.split(r"[。！？!?；;\n\r]+", description) if s.strip()), "")
    first = first.strip(" \t，,：:、") or description.strip()
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1] + "…"


def register_input(
    fields: dict[str, str], received_at: datetime, idempotency_key: str | None
) -> inputs.RegisterInput:
    """A POST requests.json form as one report of channel OTHER (an app), or GeoReportError
    naming the field."""
    category = category_of(_text(fields, "service_code", 40))
    lat = _coordinate(fields, "lat", LAT_RANGE)
    lon = _coordinate(fields, "long", LON_RANGE)
    if (lat is None) != (lon is None):
        raise bad("long" if lon is None else "lat", "lat 和 long 须同时填写")
    address = _text(fields, "address_string", 500)
    if lat is None and address is None and _text(fields, "address_id", 100) is None:
        raise bad("lat", "须提供位置：lat 和 long，或 address_string")
    description = _text(fields, "description", LIMITS["description"])
    if description is None:
        raise bad("description", "不能为空：请描述问题")
    name = "".join(
        part for part in (_text(fields, "last_name", 50), _text(fields, "first_name", 50)) if part
    )
    key = None
    if idempotency_key is not None:
        key = idempotency_key.strip()
        if not key or len(key) > 100:
            raise bad("Idempotency-Key", "须为 1 到 100 个字符")
    return inputs.RegisterInput(
        channel=Channel.OTHER,
        title=title_of(description),
        description=description,
        category=category,
        external_id=f"open311:{key}" if key else None,
        address=address,
        latitude=lat,
        longitude=lon,
        reporter_name=name or None,
        reporter_phone=_text(fields, "phone", 40),
        received_at=received_at,
        payload={k: fields[k] for k in KEPT if k in fields},
    )


def created(number: str, code: str, status: int, duplicate: bool) -> list[dict[str, Any]]:
    if status == 200 and not duplicate:
        notice = f"此前已收到该请求，案件编号 {number}"
    elif duplicate:
        notice = f"已并入反映同一问题的案件 {number} 一并办理"
    else:
        notice = f"已受理，案件编号 {number}"
    notice += f"；凭案件编号和查询码 {code} 可在 /lookup 查询办理进度"
    return [
        {
            "service_request_id": number,
            "service_notice": notice,
            "account_id": None,
            "query_code": code,
        }
    ]


def query_of(params: dict[str, str], now: datetime) -> Search:
    numbers = [n for n in (params.get("service_request_id") or "").split(",") if n.strip()]
    if len(numbers) > MAX_RESULTS:
        raise bad("service_request_id", f"一次至多 {MAX_RESULTS} 个")
    code = params.get("service_code")
    category = category_of(code) if code else None
    start, end = _date(params, "start_date"), _date(params, "end_date")
    if start and end and start > end:
        raise bad("end_date", "不能早于 start_date")
    if not numbers and start is None and end is None:
        start = now - timedelta(days=DEFAULT_DAYS)
    wanted = {s.strip().lower() for s in (params.get("status") or "").split(",") if s.strip()}
    if wanted - {"open", "closed"}:
        raise bad("status", "须为 open 或 closed")
    open_ = None if len(wanted) != 1 else wanted == {"open"}
    return Search(numbers, category, start, end, open_, MAX_RESULTS)


def _date(params: dict[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad(name, "须为 ISO 8601 时间，如 2026-11-28T09:30:00+08:00") from None
    if parsed.tzinfo is None:
        raise bad(name, "须带时区，如 2026-11-28T09:30:00+08:00")
    return parsed.astimezone(UTC)


def service_request(found: PublicRequest, tz: tzinfo) -> dict[str, Any]:
    view = found.view.as_json(tz)
    reply = view["reply"]
    return {
        "service_request_id": view["caseNumber"],
        "status": "open" if view["status"] in OPEN311_OPEN else "closed",
        "status_notes": reply["text"] if reply else view["statusText"],
        "service_name": view["categoryText"],
        "service_code": view["category"],
        "description": None,  # the caller's words may name people: not public
        "agency_responsible": found.town,
        "service_notice": None,
        "requested_datetime": view["received"]["at"],
        "updated_datetime": view["updated"]["at"],
        "expected_datetime": found.due_at.astimezone(tz).isoformat() if found.due_at else None,
        "address": found.address,
        "address_id": None,
        "zipcode": None,
        "lat": found.latitude,
        "long": found.longitude,
        "media_url": None,
    }
