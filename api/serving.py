"""What only the process that serves does: process-wide set-up (logging, glibc's
allocator, Pillow's decompression-bomb guard, freezing the start-up objects out of the
garbage collector).

``create_app`` builds an app and touches nothing global: tests, benchmarks and embedders
build many apps in one process and keep their own logging and GC state. uvicorn calls
``serve_app`` (the factory ``anxin serve`` names) in every worker process it starts, so
each serving process is set up exactly once, by itself.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.types import Lifespan

from api.app import create_app
from api.logging import configure_logging
from api.memory import tune_allocator
from api.settings import Settings
from storage.images import configure_pillow


def configure_process(settings: Settings) -> None:
    """Once per process, by its entry point (each ``anxin`` command, each uvicorn worker)."""
    configure_logging()
    tune_allocator()  # before the worker threads: decoded photos' memory goes back
    configure_pillow(settings.upload_max_pixels)


# The young generation's threshold: the default (700 net new containers) collected about
# once per policy-page request, 0.26-0.69 ms each time, on objects the request frees by
# reference counting anyway; 5,000 collected ~17x less often for 0.1-0.2 ms per request
# (measured in-process on the page, issue 19). The older generations keep their own.
YOUNG_THRESHOLD = 5_000


def _freeze_after_start_up(started: Lifespan[Any]) -> Lifespan[Any]:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        context: AbstractAsyncContextManager[Any] = started(app)
        async with context as state:
            # Objects made at start-up live as long as the process: keep them out of
            # every full garbage collection (measured: ~3 ms of every request).
            gc.freeze()
            _, older, oldest = gc.get_threshold()
            gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
            yield state

    return lifespan


def serve_app() -> Starlette:
    """The app as ``anxin serve`` runs it (uvicorn's factory)."""
    settings = Settings()
    configure_process(settings)
    app = create_app(settings)
    app.router.lifespan_context = _freeze_after_start_up(app.router.lifespan_context)
    return app
