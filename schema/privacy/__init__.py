"""Data security and personal-information rights in GraphQL: ``audit`` the PII access
log and reveal alerts (AUDIT_READ); ``rights`` the customer's consent, data download and
deletion."""

from schema.privacy.audit import AuditMutations, AuditQueries
from schema.privacy.rights import RightsMutations, RightsQueries

__all__ = ["AuditMutations", "AuditQueries", "RightsMutations", "RightsQueries"]
