"""Root-cause analysis of KPI changes: mix versus rate, slice discovery, findings."""

from opsloop.rca._findings import Finding, FindingKind

__all__ = ["Finding", "FindingKind"]
