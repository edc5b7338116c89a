"""Online customer service: agents' hours (Asia/Shanghai) and how often a customer may
write (each message may run the assistant, and queues work for agents)."""

from __future__ import annotations

from functools import cached_property

from pydantic import field_validator
from pydantic_settings import BaseSettings

from api.settings.security import RateSetting
from workflows.conversations.hours import WorkingHours
from workflows.limits import Rate


class ConversationSettings(BaseSettings):
    agent_hours: str = "09:00-21:00"  # HH:MM-HH:MM, Asia/Shanghai
    agent_days: str = "1-7"  # 1 = Monday … 7 = Sunday: "1-5", "1,2,3,4,5,6"
    limit_conversation_messages_per_customer: RateSetting = Rate(30, 60)
    limit_conversations_per_customer: RateSetting = Rate(20, 3600)

    @field_validator("agent_hours", "agent_days")
    @classmethod
    def _parses(cls, value: str, info: object) -> str:
        name = getattr(info, "field_name", "")
        if name == "agent_hours":
            WorkingHours.parse(value)
        else:
            WorkingHours.parse("09:00-17:00", value)
        return value

    @cached_property
    def agent_working_hours(self) -> WorkingHours:
        return WorkingHours.parse(self.agent_hours, self.agent_days)
