"""Data security and personal-information rights in GraphQL: ``audit`` the PII access
log and reveal alerts (AUDIT_READ); ``rights`` the customer's consent, data download and
deletion; ``sessions`` staff sessions for admins (SESSION_MANAGE); ``records`` the
retention runs and key rotations (AUDIT_READ)."""

from schema.privacy.audit import AuditMutations, AuditQueries
from schema.privacy.records import RecordQueries
from schema.privacy.rights import RightsMutations, RightsQueries
from schema.privacy.sessions import SessionMutations, SessionQueries

__all__ = [
    "AuditMutations",
    "AuditQueries",
    "RecordQueries",
    "RightsMutations",
    "RightsQueries",
    "SessionMutations",
    "SessionQueries",
]
