"""Complaints: the first-response times by urgency (the answer clock of 15/30/60 days is
the regulator's and not a setting)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class ComplaintSettings(BaseSettings):
    # First response to a complaint: major and urgent in minutes on the clock, general in
    # working days (the work calendar: weekends, public holidays, 调休).
    complaint_first_response_major_minutes: int = Field(60, ge=1, le=7 * 24 * 60)
    complaint_first_response_urgent_minutes: int = Field(120, ge=1, le=7 * 24 * 60)
    complaint_first_response_general_working_days: int = Field(1, ge=1, le=10)
    # Load the complaint classifier's dictionary (jieba, ~2.5 s) in the background at
    # start, so the first complaint filed does not pay for it.
    complaint_classifier_warm_up: bool = True
