"""Data security and personal-information rights in GraphQL: ``audit`` the PII access
log and reveal alerts (AUDIT_READ)."""

from schema.privacy.audit import AuditMutations, AuditQueries

__all__ = ["AuditMutations", "AuditQueries"]
