"""What every resolver gets: the caller, the services and this request's DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from api.services import Services
from schema.loaders import Loaders
from workflows.access import ANONYMOUS, Actor


@dataclass
class Context:
    services: Services
    request: Request | WebSocket | None = None
    response: Response | WebSocket | None = None
    actor: Actor = ANONYMOUS
    connection_params: dict[str, Any] | None = field(default=None)

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders()
