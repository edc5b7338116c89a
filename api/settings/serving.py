"""How one API process serves under load: how much it takes on at once, how long it
waits for a slow client, how long a request may run (README: Deployment)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class ServingSettings(BaseSettings):
    # HTTP requests one process works on at once; one more is answered 503 with
    # Retry-After at once (health probes are never refused). About twice the
    # concurrency at which a process stops gaining throughput (bench/load.py).
    max_concurrent_requests: int = Field(32, ge=1)
    # ... and no more than it can answer within this time at the rate it has lately been
    # finishing requests (in flight ÷ rate); one more is answered 503 at once. About half
    # the clients' own timeout: an answer later than that is mostly read by nobody.
    request_latency_target_seconds: float = Field(2.0, gt=0)
    busy_retry_after_seconds: int = Field(2, ge=1)
    # A request's work, from its body's arrival to the start of its answer; then it is
    # cancelled and answered 503.
    request_timeout_seconds: float = Field(30.0, gt=0)
    # Receiving a request's body (408 after it); its headers, from the connection's first
    # byte or the end of the previous answer (the connection is closed after it).
    request_body_timeout_seconds: float = Field(60.0, gt=0)
    request_header_timeout_seconds: float = Field(10.0, gt=0)
    keep_alive_timeout_seconds: int = Field(5, ge=1)  # an idle kept-alive connection
    shutdown_timeout_seconds: int = Field(20, ge=1)  # open connections at a graceful stop
    # For bench/load.py only (refused in production): GET /bench/served answers the
    # process's counts of shed, stopped and answered requests, without authentication.
    bench_counts: bool = False

    # WebSocket connections per process and per client address (behind a carrier's NAT
    # many customers share one); more are refused at once (503 before the handshake).
    websocket_max_connections: int = Field(5000, ge=1)
    websocket_max_connections_per_client: int = Field(200, ge=1)
    # A connection that has not sent connection_init by then is closed (4408).
    websocket_init_timeout_seconds: float = Field(10.0, gt=0)
    # permessage-deflate when a client offers it. Off: a compression context per socket
    # and direction (cannot be shared) cost 41 KB per idle subscription and a third of
    # the process's CPU for one event to 1,000 sockets (bench/notification_fanout.py),
    # for messages of a few hundred bytes; Node's `ws` server has it off by default too.
    websocket_compression: bool = False
