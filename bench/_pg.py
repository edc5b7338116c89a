"""A throw-away PostgreSQL database for a benchmark (postgres on 127.0.0.1, as in CI)."""

from __future__ import annotations

import asyncpg

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def url_of(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


async def recreate(name: str) -> str:
    """Drop and create database ``name``; returns its Tortoise URL."""
    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return url_of(name)


async def drop(name: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
