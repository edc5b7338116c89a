"""Operational analytics (数据分析): ``rules`` periods, bounds, error codes and the
shapes of a figure; ``claims`` the funnel, clock breaches and payouts; ``collection``
premium collection; ``deliveries`` notifications per channel; ``service`` surveys,
complaints, conversations and workload; ``dashboard`` all of them for one request;
``tables`` any figure as rows for a CSV or XLSX export. Read-only: no jobs."""

from workflows.analytics.dashboard import Dashboard, service_dashboard
from workflows.analytics.rules import AnalyticsError, AnalyticsErrorCode, Period

__all__ = ["AnalyticsError", "AnalyticsErrorCode", "Dashboard", "Period", "service_dashboard"]
