"""Process-wide set-up happens once, in the process that serves, never in create_app:
building an app (every test does) leaves logging, the garbage collector and Pillow's
guard as they were, while the app ``anxin serve`` runs still gets all three."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from PIL import Image

from api.app import create_app
from api.logging import RedactingFormatter
from api.serving import YOUNG_THRESHOLD, serve_app
from api.settings import Settings

NOISY_LOGGERS = ("httpx", "httpcore", "tortoise", "hpack")


@dataclass(frozen=True)
class ProcessState:
    handlers: list[logging.Handler]
    levels: dict[str, int]
    frozen: int
    max_pixels: int | None
    thresholds: tuple[int, int, int]


def process_state() -> ProcessState:
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *NOISY_LOGGERS)}
    return ProcessState(
        list(root.handlers),
        levels,
        gc.get_freeze_count(),
        Image.MAX_IMAGE_PIXELS,
        gc.get_threshold(),
    )


@pytest.fixture
def before() -> Iterator[ProcessState]:
    """The state before the test, put back after it whatever the test changed."""
    state = process_state()
    yield state
    root = logging.getLogger()
    for handler in set(root.handlers) - set(state.handlers):
        root.removeHandler(handler)
    for name, level in state.levels.items():
        logging.getLogger(name).setLevel(level)
    if state.frozen == 0 and gc.get_freeze_count():
        gc.unfreeze()
    Image.MAX_IMAGE_PIXELS = state.max_pixels
    gc.set_threshold(*state.thresholds)


async def test_create_app_changes_nothing_process_wide(
    settings: Settings, before: ProcessState
) -> None:
    app = create_app(settings.model_copy(update={"upload_max_pixels": 1_234_567}))
    async with LifespanManager(app):
        assert process_state() == before
    assert process_state() == before


async def test_the_served_app_sets_the_process_up(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: ProcessState
) -> None:
    """``serve_app`` is the factory uvicorn calls in each worker of ``anxin serve``."""
    for name, value in {
        "ANXIN_DATABASE_URL": database_url,
        "ANXIN_STORAGE_ROOT": str(tmp_path / "files"),
        "ANXIN_BACKGROUND_JOBS": "false",
        "ANXIN_UPLOAD_MAX_PIXELS": "1234567",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ANXIN_REDIS_URL", raising=False)
    app = serve_app()
    root = logging.getLogger()
    assert [h for h in root.handlers if isinstance(h.formatter, RedactingFormatter)]
    assert root.level == logging.INFO
    assert {logging.getLogger(name).level for name in NOISY_LOGGERS} == {logging.WARNING}
    assert Image.MAX_IMAGE_PIXELS == 1_234_567
    assert gc.get_freeze_count() == before.frozen  # start-up has not run yet
    assert gc.get_threshold() == before.thresholds
    async with LifespanManager(app):
        assert gc.get_freeze_count() > before.frozen
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before.thresholds[1:])
