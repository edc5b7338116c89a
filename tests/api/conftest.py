"""Fixtures of the gateway-process tests that more than one module uses."""

from tests.api.demo_database import demo_database_url, demo_load

__all__ = ["demo_database_url", "demo_load"]
