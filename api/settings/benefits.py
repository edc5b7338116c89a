"""Value-added services: the partners' shared secrets and how often a customer may book.

The secrets live here (the environment or the deployment's secret store), not in the
catalogue: staff who manage partners never see or type them, a database dump does not
hold them, and rotating one is a deployment, as for the payment providers' keys.
``ANXIN_PARTNER_SECRETS`` is a JSON object ``{"PARTNER_CODE": "secret", ...}``. In
development a partner missing from it gets a secret derived from the file-signing key.
"""

from __future__ import annotations

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings

from api.settings.security import RateSetting
from workflows.limits import Rate


class BenefitSettings(BaseSettings):
    partner_secrets: dict[str, SecretStr] = {}
    limit_bookings_per_customer: RateSetting = Rate(10, 3600)  # bookService + roadside

    @field_validator("partner_secrets")
    @classmethod
    def _long_enough(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for code, secret in value.items():
            if len(secret.get_secret_value()) < 32:
                raise ValueError(f"the secret of partner {code} must have at least 32 characters")
        return value
