"""The one seam between conversations and the service assistant (``workflows.assistant``,
built beside this package): the assistant's reply to a customer's message, and an agent's
answer turned into a knowledge-base draft. Imported when first called, so conversations
load (and their tests run) on their own; tests replace ``reply`` / ``draft_from_answer``
here with a double. Production calls the real assistant."""

from __future__ import annotations

import importlib
import inspect
import uuid
from collections.abc import Sequence
from typing import Any

from workflows.access import Actor
from workflows.assistant.contract import Reply

# One earlier turn the assistant is given: (author, text), author being "CUSTOMER",
# "ASSISTANT", "AGENT" or "SYSTEM", oldest first.
Turn = tuple[str, str]


class AssistantMissing(RuntimeError):
    """The assistant (or the function asked for) is not installed in this build."""


def _function(module: str, name: str) -> Any:
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise AssistantMissing(f"{module}.{name} is not available") from error
    return found


async def _call(function: Any, *args: Any) -> Any:
    result = function(*args)
    return await result if inspect.isawaitable(result) else result


async def reply(actor: Actor, text: str, history: Sequence[Turn]) -> Reply:
    """The assistant's answer to ``text`` from ``actor`` (the customer, whose own data it
    may read through the usual access rules)."""
    answer = _function("workflows.assistant.answer", "reply")
    result = await _call(answer, actor, text, list(history))
    if not isinstance(result, Reply):
        raise TypeError(f"the assistant answered {type(result).__name__}, not a Reply")
    return result


async def draft_from_answer(
    actor: Actor, question: str, answer: str, entry_id: uuid.UUID | None
) -> Any:
    """An agent's answer as a knowledge-base draft (a new entry, or a new variant of
    ``entry_id``); the entry, with its ``id``."""
    draft = _function("workflows.assistant.knowledge", "draft_from_answer")
    return await _call(draft, actor, question, answer, entry_id)
