"""Data security and personal-information rights (数据安全, 个人信息保护法):
``rules`` the codes, bounds, deletion and retention rules as data; ``reveal`` the one
logged way staff read a full personal value; ``audit`` the log and alerts for auditors;
``rotation`` the PII key rotation; ``rights`` marketing consent, the download of one's
data and deletion; ``retention`` the daily job; ``JOBS`` that job."""

from workflows.privacy.retention import JOBS

__all__ = ["JOBS"]
