"""uvicorn's HTTP protocol with a deadline for a request's headers (issue 21, item 5).

uvicorn (0.54, httptools and h11 alike) only times a connection between two requests
(its keep-alive timer, armed when an answer is complete and disarmed by the next byte).
A connection that is opened and sends nothing, or sends its headers a byte every few
seconds ("slowloris"), is held forever, and thousands of them cost a socket, a protocol
object and a file descriptor each. Here the headers must be complete within
``header_timeout`` seconds of the connection's opening, or of the first byte that
follows a complete answer; otherwise the connection is closed (nothing is answered: as
nginx does, nobody is waiting for an answer). The request's body is timed by the app
(``api.shedding``: 408), an idle kept-alive connection by uvicorn's keep-alive timer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

log = logging.getLogger("anxin.serving")


class HeaderTimeoutProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout: float,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout
        self.header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def data_received(self, data: bytes) -> None:
        # The first byte after a complete answer (the previous request's headers
        # disarmed the timer; an unfinished one keeps its deadline).
        if self.header_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._await_headers()
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._headers_done()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_done()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self.header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _headers_done(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _too_slow(self) -> None:
        self.header_timer = None
        if not self.transport.is_closing():
            # DEBUG: a slowloris flood would otherwise be a line per connection.
            log.debug(
                "%s: request headers not received in %.0f s", self.client, self.header_timeout
            )
            self.transport.close()


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """What ``uvicorn.run(http=...)`` takes: it calls it with keyword arguments to make
    each connection's protocol. A ``partial`` of a module-level class, not a class made
    here: ``--workers`` pickles uvicorn's config into each worker process."""
    return cast(
        "type[asyncio.Protocol]", functools.partial(HeaderTimeoutProtocol, header_timeout=seconds)
    )
