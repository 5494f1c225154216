"""Every feature's tables, imported once so that the metadata is complete."""

from hub.audit.model import AuditEntry, AuditHead
from hub.cases.model import Case, CaseCounter, CaseLink, Event, ExternalRef, Report
from hub.grid.model import GridCell, Member
from hub.monitoring.model import MonitoringPoint
from hub.sources.model import Source
from hub.tenancy.model import Principal, Tenant

__all__ = [
    "AuditEntry",
    "AuditHead",
    "Case",
    "CaseCounter",
    "CaseLink",
    "Event",
    "ExternalRef",
    "GridCell",
    "Member",
    "MonitoringPoint",
    "Principal",
    "Report",
    "Source",
    "Tenant",
]
