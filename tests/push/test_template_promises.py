"""Texts promise only what the API offers: no "renew in the app" without a renewal."""

from __future__ import annotations

from push.templates import TEMPLATES
from schema import build_schema


def test_the_expiry_text_offers_renewal_in_the_app_only_if_the_api_does() -> None:
    mutations = build_schema()._schema.mutation_type
    assert mutations is not None
    renewal_offered = any("renew" in name.lower() for name in mutations.fields)
    promises_app_renewal = "App内续保" in TEMPLATES["policy.expiring"].body
    assert promises_app_renewal == renewal_offered
