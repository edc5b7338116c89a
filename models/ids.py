"""The global IDs notification payloads and deep links carry (the API's Relay IDs)."""

from __future__ import annotations

import uuid

from strawberry import relay


def global_id(type_name: str, object_id: object) -> str:
    return str(relay.GlobalID(type_name, str(object_id)))


def parse_global_id(value: str, type_name: str) -> uuid.UUID | None:
    """The UUID behind a global ID of ``type_name``; None for anything else."""
    try:
        parsed = relay.GlobalID.from_id(value.strip())
        return uuid.UUID(parsed.node_id) if parsed.type_name == type_name else None
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
