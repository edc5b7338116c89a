"""What every resolver gets: the caller, the services and this request's DataLoaders."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from api.services import Services
from schema.loaders import Loaders
from workflows.access import ANONYMOUS, Actor
from workflows.limits import Client


@dataclass
class Context:
    services: Services
    request: Request | WebSocket | None = None
    response: Response | WebSocket | None = None
    actor: Actor = ANONYMOUS
    client: Client = field(default_factory=Client)  # IP and installation, for rate limits
    connection_params: dict[str, Any] | None = field(default=None)
    # WebSocket: closes it at token expiry or when the session is revoked.
    session_watch: asyncio.Task[None] | None = None

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders()

    def forget_reads(self) -> None:
        """Drop this request's DataLoaders: the next read queries again (after a write;
        ``schema.loaders.FreshReads`` calls it around mutations and subscription events)."""
        self.__dict__.pop("loaders", None)

    def new_operation(self) -> None:
        """A WebSocket connection runs many operations on one context: each gets fresh
        DataLoaders, so none sees another's cached rows."""
        self.forget_reads()
