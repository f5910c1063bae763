"""The base every schema model shares: unknown fields are errors, types are strict."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """Strict (no "5" for 5, no true for 1), closed (typos are errors), immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
