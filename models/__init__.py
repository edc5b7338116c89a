"""Tortoise models, one module per domain, registered as the single app ``models``."""

MODEL_MODULES = [
    "models.customers",
    "models.staff",
    "models.auth",
    "models.policies",
    "models.notifications",
    "models.claims",
    "models.payments",
    "models.surveys",
    "models.visits",
    "models.complaints",
    "models.work_calendar",
    "models.crisis",
    "models.complaint_remedies",
    "models.knowledge",
    "models.conversations",
    "models.service_plans",
    "models.policy_documents",
    "models.endorsements",
    "models.policy_applications",
    "models.membership",
]
