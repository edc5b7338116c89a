"""The complaint classifier's dictionary loads in the background at start-up: the app
is ready before it is loaded, and it is loaded without any complaint being filed; with
the warm-up off, nothing loads until the first complaint."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.app import create_app
from api.settings import Settings
from workflows.complaints import classify


@pytest.fixture
def cold(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's tokenizer forgotten for the test (and restored after it)."""
    monkeypatch.setattr(classify, "_built", [])
    yield


async def test_the_dictionary_loads_in_the_background(
    settings: Settings, cold: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    release, done = threading.Event(), threading.Event()
    real = classify.warm_up

    def held_warm_up() -> float:
        assert release.wait(30)
        try:
            return real()
        finally:
            done.set()

    monkeypatch.setattr(classify, "warm_up", held_warm_up)
    app = create_app(settings.model_copy(update={"complaint_classifier_warm_up": True}))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/readyz")  # while the load is held back
        assert ready.status_code == 200 and not classify.is_warm()
        assert "classifier-warm-up" in {t.get_name() for t in asyncio.all_tasks()}
        release.set()
        assert await asyncio.to_thread(done.wait, 60)
        assert classify.is_warm()  # loaded with no complaint filed


async def test_without_the_warm_up_nothing_loads(settings: Settings, cold: None) -> None:
    app = create_app(settings.model_copy(update={"complaint_classifier_warm_up": False}))
    async with LifespanManager(app):
        assert "classifier-warm-up" not in {t.get_name() for t in asyncio.all_tasks()}
        assert not classify.is_warm()
    assert classify.propose("理赔太慢").content_class.value == "CLAIM"
    assert classify.is_warm()
