"""A text cut to the width of the column it is written to, read from the model rather than written out.

Daraja's fields have no documented length, so what it sends is cut to fit rather than refused (the raw body
keeps every byte). Reading the width from the model means a widened column widens every writer with it.
"""

from __future__ import annotations


def truncate_to(model, field_name: str, value: str) -> str:
    """`value` cut to `model.field_name`'s max_length (a model class or instance; core imports no app)."""
    return value[: model._meta.get_field(field_name).max_length]
