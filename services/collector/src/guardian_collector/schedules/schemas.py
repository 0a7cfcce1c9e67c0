from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ScheduleIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    cron: str = Field(default="0 2 * * *", description="Five-field cron expression; default daily at 02:00")
    timezone: str = Field(default="UTC", description="IANA time zone the cron expression is read in")
    regions: list[str] | None = None
    services: list[str] | None = None
    enabled: bool = True


class ScheduleUpdate(BaseModel):
    cron: str | None = None
    timezone: str | None = None
    regions: list[str] | None = None
    services: list[str] | None = None
    enabled: bool | None = None


class RunOut(BaseModel):
    due_at: datetime
    fired_at: datetime
    scan_id: str | None
    outcome: str
    detail: str | None


class ScheduleOut(BaseModel):
    schedule_id: str
    name: str
    cron: str
    timezone: str
    regions: list[str] | None
    services: list[str] | None
    enabled: bool
    next_run_at: datetime
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    recent_runs: list[RunOut] = Field(default_factory=list)
