"""The global IDs notification payloads and deep links carry (the API's Relay IDs)."""

from __future__ import annotations

from strawberry import relay


def global_id(type_name: str, object_id: object) -> str:
    return str(relay.GlobalID(type_name, str(object_id)))
