"""Cursor pagination for every list: stable under inserts, and never a COUNT(*) of a large table.

Answers are `{"next": url-or-null, "previous": url-or-null, "results": [...]}`.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from django.db.models import Q
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param


class NewestFirstPagination(CursorPagination):
    """Newest first by (created_at, id); served by the (-created_at, -id) indexes."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request):
        """DRF's cursor, whose position (a created_at we wrote) must also read back as a time: a forged one
        (`p=garbage`) would otherwise reach the query and answer 500. Anything else is 404 Invalid cursor."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                when = parse_datetime(cursor.position)
                if when is None:
                    raise ValueError(cursor.position)
                if when.tzinfo is not None:
                    when.astimezone(UTC)  # a year 1 or 9999 time that cannot be moved to UTC
            except (TypeError, ValueError, OverflowError):
                raise NotFound(self.invalid_cursor_message) from None
        return cursor


class MergedKeysetPagination:
    """Pages through several querysets as one list: all of the first source, then all of the second, ...,
    each ordered by (time, id). The cursor is the position (source index, time, id) of the last row shown,
    so every page is a handful of index range scans, whatever the page number.
    """

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    page_size = 50
    max_page_size = 500
    invalid_cursor_message = "Invalid cursor"

    def __init__(self) -> None:
        self.next_position: tuple | None = None
        self.previous_position: tuple | None = None

    def get_page_size(self, request) -> int:
        try:
            size = int(request.query_params.get(self.page_size_query_param, self.page_size))
        except (TypeError, ValueError):
            return self.page_size
        return max(1, min(size, self.max_page_size))

    # Cursor: urlsafe base64 of JSON [source, iso time, id, reverse].
    def decode_cursor(self, request) -> tuple[int, datetime, int, bool] | None:
        raw = request.query_params.get(self.cursor_query_param)
        if not raw:
            return None
        try:
            source, when, pk, reverse = json.loads(base64.urlsafe_b64decode(raw.encode()).decode())
            source, when, pk = int(source), datetime.fromisoformat(when), int(pk)
            if when.tzinfo is not None:
                when.astimezone(UTC)
            if not (0 <= source < 100 and 0 <= pk < 2**63):
                raise ValueError(raw)
            return source, when, pk, bool(reverse)
        except (TypeError, ValueError, UnicodeDecodeError, OverflowError):
            raise NotFound(self.invalid_cursor_message) from None

    @staticmethod
    def encode_cursor(position: tuple[int, datetime, int], reverse: bool) -> str:
        source, when, pk = position
        raw = json.dumps([source, when.isoformat(), pk, reverse]).encode()
        return base64.urlsafe_b64encode(raw).decode()

    def paginate(self, request, sources: list[tuple], position_of) -> list:
        """`sources` is a list of (queryset, time_field); `position_of(source_index, obj)` gives an object's
        (time, id). Returns the page's [(source_index, obj)] in list order."""
        self.request = request
        self.page_size = self.get_page_size(request)
        cursor = self.decode_cursor(request)
        reverse = bool(cursor and cursor[3])
        want = self.page_size + 1

        indexes = range(len(sources))
        if reverse:
            indexes = reversed(indexes)
        rows: list = []
        for index in indexes:
            if cursor and (index > cursor[0] if reverse else index < cursor[0]):
                continue
            queryset, field = sources[index]
            if cursor and index == cursor[0]:
                when, pk = cursor[1], cursor[2]
                op = "lt" if reverse else "gt"
                queryset = queryset.filter(Q(**{f"{field}__{op}": when}) | Q(**{field: when, f"pk__{op}": pk}))
            ordering = (f"-{field}", "-pk") if reverse else (field, "pk")
            rows.extend((index, obj) for obj in queryset.order_by(*ordering)[: want - len(rows)])
            if len(rows) >= want:
                break

        has_more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if reverse:
            rows.reverse()

        def at(item):
            index, obj = item
            return (index, *position_of(index, obj))

        self.next_position = at(rows[-1]) if rows and (has_more or reverse) else None
        self.previous_position = at(rows[0]) if rows and (cursor is not None and (not reverse or has_more)) else None
        return rows

    def _link(self, position, reverse: bool) -> str | None:
        if position is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, self.encode_cursor(position, reverse))

    def get_paginated_response(self, data) -> Response:
        return Response(
            {
                "next": self._link(self.next_position, False),
                "previous": self._link(self.previous_position, True),
                "results": data,
            }
        )

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The pagination cursor value.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Number of results to return per page (at most {self.max_page_size}).",
                "schema": {"type": "integer"},
            },
        ]

    @staticmethod
    def get_paginated_response_schema(schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }
