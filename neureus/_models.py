"""The pydantic base every public model stands on.

snake_case attributes, camelCase wire names (both accepted when reading), unknown wire
fields kept (``extra="allow"``), and schemas built on first use rather than at import
(``defer_build``), which keeps ``import neureus`` cheap.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["NeureusModel"]


class NeureusModel(BaseModel):
    """Base for the SDK's data models: read camelCase or snake_case, keep unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=False,
        extra="allow",
        defer_build=True,
        protected_namespaces=(),
    )
