"""graphql-transport-ws as strawberry speaks it, with a direct way out for subscription
answers shared by many sockets (``schema.shared_events``): each operation's task carries
a sink that sends a ``next`` message already encoded, with the operation's id, as long
as the operation is open. Everything else (``connection_init`` and its authentication,
ping/pong, ``subscribe``, ``complete``, errors, the per-connection operation limit) is
strawberry's handler, unchanged."""

from __future__ import annotations

import contextlib
from typing import Any

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.extensions import SchemaExtension
from strawberry.extensions.mask_errors import MaskErrors
from strawberry.schema import Schema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)

from api.context import Context
from schema.shared_events import DIRECT_SINK

# Extensions that change a streamed result only where it has errors (a shared answer has
# none), besides those that leave results alone.
ERRORS_ONLY = (MaskErrors,)


def results_untouched_by_extensions(schema: Schema) -> bool:
    """Whether no schema extension adds to or changes an error-free subscription result
    (``get_results``, ``on_stream_result``): strawberry's per-result handling would then
    send exactly the shared answer, so a direct ``next`` is the same message."""
    for extension in schema.get_extensions():
        kind = type(extension)
        if isinstance(extension, ERRORS_ONLY):
            continue
        if (
            kind.get_results is not SchemaExtension.get_results
            or kind.on_stream_result is not SchemaExtension.on_stream_result
        ):
            return False
    return True


class OperationSink:
    """One operation's direct way to its socket (``schema.shared_events.DirectSink``)."""

    __slots__ = ("handler", "operation", "prefix")

    def __init__(self, handler: DirectDeliveryHandler, operation: Operation[Context, None]):
        self.handler = handler
        self.operation = operation
        self.prefix = f'{{"id":{self.encode(operation.id)},"type":"next","payload":'

    def encode(self, data: Any) -> str:
        return self.handler.view.encode_json_string(data)

    async def send_next(self, payload_text: str) -> None:
        operation = self.operation
        # Not after a `complete` from either side (strawberry's own rule for `next`).
        if operation.completed or self.handler.operations.get(operation.id) is not operation:
            return
        websocket = self.handler.websocket
        assert isinstance(websocket, ASGIWebSocketAdapter)
        # A closed socket: the connection's own loop sees it too and ends every operation
        # (raised here, strawberry would log it as an unexpected error of the event).
        with contextlib.suppress(WebSocketDisconnect):
            await websocket.ws.send_text(f"{self.prefix}{payload_text}}}")


class DirectDeliveryHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """strawberry's graphql-transport-ws handler; each operation's task also carries an
    ``OperationSink`` (when the schema's extensions leave results alone)."""

    direct = True  # set per view: ``results_untouched_by_extensions``

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        if self.direct:
            DIRECT_SINK.set(OperationSink(self, operation))  # this task's context only
        await super().run_operation(operation)


def direct_delivery_handler(schema: Schema) -> type[DirectDeliveryHandler]:
    """The handler class for a view of ``schema``."""
    return type(
        "DirectDeliveryHandler",
        (DirectDeliveryHandler,),
        {"direct": results_untouched_by_extensions(schema)},
    )
