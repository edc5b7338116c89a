"""The published knowledge base as the assistant searches it, kept per process and
rebuilt when the base changes.

Every API process answers; a supervisor publishes on one of them. Each reply asks the
database one aggregate question (how many entries, the latest change, the thumbs
totals): a different answer rebuilds the index (entries changed) or reloads the
feedback weights (only thumbs changed), so a publish is seen by every process on its
next reply, with no message bus to miss. The question is asked at most once per
``CHECK_EVERY`` seconds per process (a publish is live everywhere within a second; the
aggregate scan is not paid on every reply).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tortoise import connections
from tortoise.functions import Count, Max, Sum

from models.knowledge import EntryStatus, KnowledgeEntry, KnowledgeVersion
from workflows.assistant.retrieval import Bm25Index
from workflows.assistant.text import tokens

CHECK_EVERY = 1.0  # seconds between two looks at the database for changes


@dataclass(frozen=True)
class Published:
    """What a reply needs of an entry: its published text, not the draft being edited."""

    id: uuid.UUID
    code: str
    category: str
    question: str
    answer: str
    source_ref: str


def feedback_weight(helpful: int, unhelpful: int) -> float:
    """Thumbs move an entry's BM25 score by at most ±20 %, and only as votes gather
    (a single thumbs-down does not bury an entry): 1 + 0.2·tanh((up − down) / 10)."""
    return 1.0 + 0.2 * math.tanh((helpful - unhelpful) / 10)


class KnowledgeIndex:
    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._key: tuple[Any, ...] | None = None
        self._votes: tuple[Any, ...] | None = None
        self.index = Bm25Index([])
        self.entries: dict[uuid.UUID, Published] = {}
        self.weights: dict[uuid.UUID, float] = {}
        self._checked = -CHECK_EVERY
        self.check_every = CHECK_EVERY
        self._database: object = None  # another database (tests): look again at once
        self._segmented: Segmented = {}

    def invalidate(self) -> None:
        """Look at the database on the next reply (this process changed the base)."""
        self._checked = -self.check_every

    async def current(self) -> KnowledgeIndex:
        """This index, brought up to date with the database first if it changed (looked
        at no more than once per ``check_every`` seconds)."""
        now = time.monotonic()
        database = connections.get("default")
        if now - self._checked < self.check_every and database is self._database:
            return self
        self._checked, self._database = now, database
        row = (
            await KnowledgeEntry.all()
            .annotate(
                n=Count("id"),
                changed=Max("updated_at"),
                up=Sum("helpful"),
                down=Sum("unhelpful"),
            )
            .values("n", "changed", "up", "down")
        )[0]
        key = (row["n"], str(row["changed"]))
        votes = (row["up"], row["down"])
        if key != self._key or votes != self._votes:
            async with self._lock:
                if key != self._key:
                    await self._rebuild()
                    self._key = key
                if votes != self._votes:
                    await self._reweigh()
                    self._votes = votes
        return self

    async def _rebuild(self) -> None:
        """Entries with a published version, not retired, as that version reads (an
        edit in progress is a new draft version; customers keep the published one)."""
        live = {
            row.id: row
            for row in await KnowledgeEntry.filter(published_version__not_isnull=True).exclude(
                status=EntryStatus.RETIRED
            )
        }
        versions = await KnowledgeVersion.filter(entry_id__in=list(live))
        texts: list[tuple[Published, int, list[str]]] = []
        for version in versions:
            entry = live[version.entry_id]
            if version.version != entry.published_version:
                continue
            published = Published(
                entry.id,
                entry.code,
                version.category,
                version.question,
                version.answer,
                entry.source_ref,
            )
            texts.append((published, version.version, [version.question, *version.variants]))
        self.index, self.entries = await asyncio.to_thread(_build, texts, self._segmented)

    async def _reweigh(self) -> None:
        rows = await KnowledgeEntry.filter(published_version__not_isnull=True).values_list(
            "id", "helpful", "unhelpful"
        )
        self.weights = {entry_id: feedback_weight(up, down) for entry_id, up, down in rows}


Segmented = dict[tuple[uuid.UUID, int], list[list[str]]]


def _build(
    texts: list[tuple[Published, int, list[str]]], segmented: Segmented
) -> tuple[Bm25Index, dict[uuid.UUID, Published]]:
    """Index every question and variant (CPU: run off the loop). Segmentation is the
    cost (a few hundred µs a text): it is kept per entry version in ``segmented``, so a
    rebuild after one publish segments one entry, not the whole base."""
    documents: list[tuple[uuid.UUID, list[str]]] = []
    live = set()
    for published, version, questions in texts:
        key = (published.id, version)
        live.add(key)
        if key not in segmented:
            segmented[key] = [words for words in map(tokens, questions) if words]
        documents.extend((published.id, words) for words in segmented[key])
    for key in set(segmented) - live:  # versions no longer published
        del segmented[key]
    return Bm25Index(documents), {published.id: published for published, _, _ in texts}


INDEX = KnowledgeIndex()  # one per process: every reply reads it
