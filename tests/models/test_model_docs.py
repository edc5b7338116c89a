"""Model docstrings become SQL comments, and Tortoise's SQLite migration runner splits
statements on ``;``: a semicolon in a model docstring breaks migrations. Field comments
are never read from the source (``models.base.Stored``)."""

import importlib
import inspect
from pathlib import Path

from tortoise.models import Model

import models.auth
import models.claims
import models.customers
import models.notifications
import models.policies
import models.staff
from models import MODEL_MODULES
from models.base import Stored


def test_no_semicolons_in_model_docstrings() -> None:
    offenders = [
        cls.__name__
        for module in (
            models.auth,
            models.claims,
            models.customers,
            models.notifications,
            models.policies,
            models.staff,
        )
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, Model) and ";" in (cls.__doc__ or "")
    ]
    assert offenders == []


def _every_model() -> list[type[Model]]:
    found = []
    for name in MODEL_MODULES:
        module = importlib.import_module(name)
        found += [
            cls
            for cls in vars(module).values()
            if isinstance(cls, type)
            and issubclass(cls, Model)
            and cls.__module__ == name
            and not cls._meta.abstract
        ]
    return found


def test_models_are_declared_without_reading_their_source() -> None:
    """Tortoise reads each model's source file for ``#:`` field comments unless the class
    says ``_no_comments`` (0.9 s of every start-up over our models): every model says it,
    through ``models.base.Stored``, and no model file has such a comment to lose."""
    declared = _every_model()
    assert len(declared) > 100
    assert [cls.__name__ for cls in declared if not cls.__dict__.get("_no_comments")] == []
    assert all(issubclass(cls, Stored) for cls in declared)
    sources = {inspect.getsourcefile(cls) for cls in declared}
    assert [path for path in sources if path and "#:" in Path(path).read_text()] == []
