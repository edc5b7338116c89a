"""What every stored entity shares: a random UUID key (never a guessable sequence) and times."""

from typing import Any

from tortoise import fields
from tortoise.models import Model, ModelMeta


class _Declared(ModelMeta):
    """Tortoise's metaclass without its search for ``#:`` field comments: for each model
    it reads the class's source file (``inspect.getsource``, ~8 ms a model, 0.9 s of the
    gateway's and every command's start-up over ~115 models) to find comments we never
    write (field descriptions are given as ``description=``). Tortoise's own migration
    states skip the search the same way (``_no_comments``)."""

    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> Any:
        attrs.setdefault("_no_comments", True)
        return super().__new__(mcs, name, bases, attrs)


class Stored(Model, metaclass=_Declared):
    """The base of every model: ``Entity``, or this for a table with a key of its own."""

    class Meta:
        abstract = True


class Entity(Stored):
    id = fields.UUIDField(primary_key=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        abstract = True
