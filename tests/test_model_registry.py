"""Tortoise finalises the models once per process and dialect (tests/model_registry.py):
an init on another dialect must not keep the previous one's filters, and each test's
connection stays its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.backends.sqlite.executor import SqliteExecutor
from tortoise.context import TortoiseContext
from tortoise.contrib.sqlite.regex import posix_sqlite_regexp
from tortoise.filters import posix_regex

from models.config import tortoise_config
from models.customers import Customer
from tests import model_registry


def _marked_regexp(*args: Any) -> Any:  # pragma: no cover - never called, only compared
    return posix_sqlite_regexp(*args)


class _MarkedExecutor(SqliteExecutor):
    """Another dialect, as far as the finalisation can tell: its own regex filter."""

    FILTER_FUNC_OVERRIDE: ClassVar = {
        **SqliteExecutor.FILTER_FUNC_OVERRIDE,
        posix_regex: _marked_regexp,
    }


class _MarkedClient(SqliteClient):
    executor_class = _MarkedExecutor


client_class = _MarkedClient  # this module is the marked dialect's Tortoise engine


def _config(url: str, marked: bool) -> dict[str, Any]:
    config = tortoise_config(url)
    if marked:
        connection = expand_db_url(url)
        connection["engine"] = __name__
        config["connections"]["default"] = connection
    return config


async def _regex_operator(url: str, marked: bool) -> Callable[..., Any]:
    async with TortoiseContext() as context:
        await context.init(config=_config(url, marked))
        operator: Callable[..., Any] = Customer._meta.filters["id__posix_regex"]["operator"]
        return operator


async def test_another_dialect_finalises_the_models_again(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'dialects.sqlite3'}"
    assert await _regex_operator(url, marked=False) is posix_sqlite_regexp
    assert await _regex_operator(url, marked=True) is _marked_regexp
    assert await _regex_operator(url, marked=False) is posix_sqlite_regexp


async def test_an_init_on_the_same_dialect_is_not_finalised_again(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'same.sqlite3'}"
    await _regex_operator(url, marked=False)
    Customer._meta.filters["id__posix_regex"]["operator"] = _marked_regexp
    try:  # the next init skips the finalisation: what it would rebuild stays as it is
        assert await _regex_operator(url, marked=False) is _marked_regexp
    finally:
        model_registry.forget()
        assert await _regex_operator(url, marked=False) is posix_sqlite_regexp


async def test_each_test_still_has_its_own_connection(db: str) -> None:
    """The finalisation stores no connection: the models use this test's database."""
    connection = Customer._meta.db
    if db.startswith("sqlite://"):
        assert connection.filename == db.removeprefix("sqlite://")  # type: ignore[attr-defined]
    else:
        assert connection.database == urlsplit(db).path.lstrip("/")  # type: ignore[attr-defined]
    assert await Customer.all().count() == 0
