"""``GET /api/v1/numbers``: phone numbers as people of the box's region write them.

The desktop shows numbers in national format for the box's region
(``numbers.default_region``) and international format for the others, with the same
rules (``phonenumbers``) the switch uses everywhere; the browser asks here rather than
carrying a copy of the numbering plans.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from switch.api.auth import require_token
from switch.core import Core
from switch.phone import PHONE_MAX, display_forms

MAX_NUMBERS = 50
Number = Annotated[str, Field(min_length=1, max_length=PHONE_MAX)]


class NumberForms(BaseModel):
    input: str
    e164: str | None = Field(description="E.164, or null when this is not a phone number")
    national: str | None
    display: str = Field(description="national for the box's region, else international")
    valid: bool


def numbers_router() -> APIRouter:
    router = APIRouter(dependencies=[Depends(require_token)], tags=["numbers"])

    @router.get("/numbers", summary="Phone numbers in the forms people read (up to 50)")
    async def numbers(
        request: Request,
        n: Annotated[list[Number], Query(max_length=MAX_NUMBERS)],
    ) -> list[NumberForms]:
        core: Core = request.app.state.core
        region = core.config.numbers.default_region
        return [NumberForms.model_validate(display_forms(raw, region)) for raw in n]

    return router
