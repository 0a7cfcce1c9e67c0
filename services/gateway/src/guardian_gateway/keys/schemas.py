from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from guardian_common.auth import Role


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="Who or what the key is for")
    role: Role
    expires_at: datetime | None = Field(default=None, description="When the key stops working; never if absent")


class KeyOut(BaseModel):
    id: str
    name: str
    role: Role
    prefix: str = Field(description="The start of the key, to recognise it; never enough to use it")
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself. It is shown only in this response and cannot be recovered.")


class KeyList(BaseModel):
    items: list[KeyOut]
