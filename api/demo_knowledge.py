"""The demo knowledge base: the service assistant's FAQ entries for this insurer's
products and processes (workflows/assistant/data/knowledge.json), published."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workflows.assistant.knowledge import load_entries

DATA = (
    Path(__file__).resolve().parent.parent / "workflows" / "assistant" / "data" / "knowledge.json"
)


def demo_entries() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(DATA.read_text(encoding="utf-8"))
    return entries


async def seed_knowledge() -> int:
    """Publish the demo entries; entries already loaded (by code) are left alone."""
    return await load_entries(demo_entries())
