"""The one seam between conversations and the service assistant (``workflows.assistant``):
the assistant's reply to a customer's message, and an agent's answer turned into a
knowledge-base draft. Tests replace ``reply`` / ``draft_from_answer`` here with a double."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from models.knowledge import KnowledgeEntry
from workflows.access import Actor
from workflows.assistant import answer, knowledge
from workflows.assistant.contract import Reply


async def reply(actor: Actor, text: str, earlier: Sequence[str]) -> Reply:
    """The assistant's answer to ``text`` from ``actor`` (the customer, whose own data it
    reads through the usual access rules); ``earlier`` the customer's earlier messages of
    the conversation, oldest first (for "住院那个"-style follow-ups)."""
    return await answer.reply(actor, text, earlier)


async def draft_from_answer(
    actor: Actor, question: str, text: str, entry_id: uuid.UUID | None
) -> KnowledgeEntry:
    """An agent's answer as a knowledge-base draft (a new entry, or a new variant of
    ``entry_id``)."""
    return await knowledge.draft_from_answer(actor, question, text, entry_id)
