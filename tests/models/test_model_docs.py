"""Model docstrings become SQL comments, and Tortoise's SQLite migration runner splits
statements on ``;``: a semicolon in a model docstring breaks migrations."""

from tortoise.models import Model

import models.auth
import models.claims
import models.customers
import models.notifications
import models.policies
import models.staff


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
