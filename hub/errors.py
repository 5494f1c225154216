"""Expected failures of a use case: they reach clients as data (a code), never as a 500."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    VALIDATION = "VALIDATION"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"


class DomainError(Exception):
    def __init__(self, code: ErrorCode | str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.field = field


# What a person calls each field the API names in `field` (the key stays for machines).
FIELD_LABELS: dict[str, str] = {
    "title": "标题",
    "description": "描述",
    "externalId": "来件编号",
    "address": "地址",
    "reporterName": "举报人姓名",
    "reporterPhone": "举报人电话",
    "note": "说明",
    "reason": "原因",
    "result": "办理结果",
    "latitude": "纬度",
    "longitude": "经度",
    "occurredAt": "发生时间",
    "dueAt": "办理期限",
    "onSiteAt": "到场时间",
    "from": "开始时间",
    "to": "结束时间",
    "after": "游标",
    "first": "条数",
    "caseId": "案件",
    "intoCaseId": "目标案件",
    "reportId": "举报",
    "sourceId": "污染源",
    "pointId": "监测点",
    "requestId": "延期申请",
    "tenantCode": "乡镇",
    "tenantCodes": "乡镇",
    "town": "乡镇",
    "channel": "渠道",
    "level": "牌色",
    "phase": "环节",
    "yellowAfter": "黄牌时限",
    "redAfter": "红牌时限",
    "category": "类别",
    "priority": "优先级",
    "mn": "设备编号（MN）",
    "name": "名称",
    "password": "密码",
    "limits": "限值",
    "pollutant": "污染物",
    "id": "编号",
    "body": "请求体",
    "text": "检索词",
    "at": "时间",
    "createdAfter": "登记时间起",
    "createdBefore": "登记时间止",
    "receivedAt": "来电时间",
    "assignedAt": "交办时间",
    "deadline": "办理期限",
    "callId": "来电编号",
    "platformCaseId": "平台案件编号",
    "callerPhone": "来电号码",
    "callerName": "来电人",
    "gridCellId": "网格",
    "assigneeId": "承办人",
    "authorization": "授权",
}


def label(field: str) -> str:
    """The Chinese name of an API field ("filter.text" reads as the label of "text")."""
    name = field.rsplit(".", 1)[-1]
    return FIELD_LABELS.get(name, name)


def not_found(what: str, field: str | None = None) -> DomainError:
    """`what` is what a person calls the missing thing, in Chinese (e.g. 案件)."""
    return DomainError(ErrorCode.NOT_FOUND, f"{what}不存在或您无权查看", field)


def invalid(field: str, message: str) -> DomainError:
    return DomainError(ErrorCode.VALIDATION, message, field)


def missing(field: str) -> DomainError:
    return invalid(field, f"{label(field)}不能为空")


def too_long(field: str, limit: int) -> DomainError:
    return invalid(field, f"{label(field)}不能超过 {limit} 个字符")


def has_nul(field: str) -> DomainError:
    return invalid(field, f"{label(field)}含有空字符（NUL）")


def needs_offset(field: str) -> DomainError:
    return invalid(field, f"{label(field)}须带时区偏移，如 2026-12-10T08:00:00+08:00")


def out_of_range(field: str) -> DomainError:
    return invalid(field, f"{label(field)}超出有效范围")


def not_an_id(field: str) -> DomainError:
    return invalid(field, f"{label(field)}编号格式不正确")


def bad_cursor(field: str) -> DomainError:
    return invalid(field, "游标无效：不是本服务器发出的游标")


def unknown_town(field: str, code: str) -> DomainError:
    return invalid(field, f"没有编码为 {code!r} 的乡镇")
