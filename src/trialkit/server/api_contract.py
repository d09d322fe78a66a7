"""The REST API's one error contract and its input limits (see docs/api.md).

Every answer of the API that is not a success has the same body::

    {"error": "<one sentence>", "errors": [{"field": "<dotted path>", "rule": "<rule>", "message": "<why>"}]}

with 401 (not authenticated), 403 (your role or site does not allow it), 404 (no such thing, or one
you may not know exists), 409 (a workflow step the record's state refuses) and 422 (invalid input;
``errors`` names each field and rule). ``api.py`` registers the handlers that produce it, once, and
adds these responses to every operation of the OpenAPI schema; routers only raise.

The limits below bound what a request may carry before any view runs, so bad input is a 422 naming
the field, never a database error: ids fit PostgreSQL's ``integer``, strings fit their columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated, Any

from django.db.models import QuerySet
from ninja import Schema
from ninja.pagination import LimitOffsetPagination
from ninja.parser import Parser
from pydantic import Field, StringConstraints

from trialkit.protocol.loader import format_loc

# PostgreSQL's ``integer`` (the primary keys and PositiveIntegerField columns) ends at 2**31 - 1; a
# larger id in an address would be a database error there, not "no such row".
MAX_ID = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
Version = Annotated[int, Field(ge=0, le=MAX_ID)]
# A form's record number (FormRecord.repeat, a PostgreSQL smallint); the pages allow 1-999.
Repeat = Annotated[int, Field(ge=1, le=999)]

# Identifiers, with the max_length of the column they are looked up in.
NctId = Annotated[str, StringConstraints(min_length=1, max_length=11)]  # Trial.nct_id
Code = Annotated[str, StringConstraints(max_length=64)]  # Site.code, visit ids, instruments, criterion and item ids
Number = Annotated[str, StringConstraints(min_length=1, max_length=32)]  # screening and participant numbers
Name = Annotated[str, StringConstraints(max_length=200)]  # a signer's name
# Free text stored in a TextField (reasons, query messages): bounded so one request cannot fill the disk.
TEXT_MAX = 4000
Text = Annotated[str, StringConstraints(max_length=TEXT_MAX)]
# A password or a one-time code: checked, never stored.
Secret = Annotated[str, StringConstraints(max_length=256)]


class FieldErrorOut(Schema):
    field: str = Field(description="Dotted path of the input at fault (body fields, query or path parameters).")
    rule: str = Field(description="The rule it broke, e.g. missing, max_length, range, choice, json.")
    message: str


class ErrorOut(Schema):
    """The body of every answer that is not a success."""

    error: str = Field(description="One sentence saying what went wrong.")
    errors: list[FieldErrorOut] = Field(default_factory=list, description="One entry per invalid input (422).")


def error_body(message: str, errors: Iterable[dict[str, str]] = ()) -> dict[str, Any]:
    return {"error": message, "errors": list(errors)}


def field_error(field: str, rule: str, message: str) -> dict[str, str]:
    return {"field": field, "rule": rule, "message": message}


# --------------------------------------------------------------------------- framework validation errors

# Where ninja says a value came from; the contract names the field only.
_SOURCES = {"body", "query", "path", "header", "cookie", "form", "file"}

# pydantic's error types, named by the rule they check.
_RULES = {
    "missing": "missing",
    "string_too_long": "max_length",
    "too_long": "max_length",
    "string_too_short": "min_length",
    "too_short": "min_length",
    "greater_than": "range",
    "greater_than_equal": "range",
    "less_than": "range",
    "less_than_equal": "range",
    "literal_error": "choice",
    "enum": "choice",
    "string_pattern_mismatch": "pattern",
    "extra_forbidden": "unknown_field",
}


def _field_path(loc: tuple | list) -> str:
    parts = list(loc)
    if parts and parts[0] in _SOURCES:
        source = parts.pop(0)
        # ninja nests the body under the view's parameter name ("payload", "body"): noise to a client.
        if source == "body" and parts:
            parts.pop(0)
    return format_loc(tuple(parts)) or "body"


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """ninja's ValidationError.errors (pydantic's, located by source) as field/rule/message."""
    out = []
    for e in errors:
        kind = str(e.get("type", "invalid"))
        out.append(
            field_error(_field_path(e.get("loc", ())), _RULES.get(kind, kind), str(e.get("msg", "is not valid")))
        )
    return out


def summary(errors: list[dict[str, str]]) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid input"


# --------------------------------------------------------------------------- lists: one page at a time

# Every list the API answers is a page: ``?limit=`` (1-500, default 100) rows from ``?offset=`` (0 on),
# with ``count``, how many rows there are in all. A limit or offset out of range is a 422 naming it.
PAGE_DEFAULT = 100
PAGE_MAX = 500


class Rows:
    """A list answer before it is cut to a page: the rows (a queryset, cut in the database, or a list)
    and how they are shown: ``show`` one row at a time, or ``page`` all rows of the page at once (to
    load what they need in a few queries). Only the rows of the page are shown."""

    def __init__(self, rows, show=None, page=None) -> None:
        self.rows = rows
        self.page = page or ((lambda rows: [show(r) for r in rows]) if show else list)


class Pages(LimitOffsetPagination):
    """django-ninja's limit/offset pagination with bounds, and the page's limit and offset echoed."""

    class Input(Schema):
        limit: int = Field(PAGE_DEFAULT, ge=1, le=PAGE_MAX, description=f"Rows per page (1-{PAGE_MAX}).")
        offset: int = Field(0, ge=0, le=MAX_ID, description="Rows to skip: 0 for the first page.")

    class Output(Schema):
        count: int = Field(description="How many rows there are in all pages.")
        limit: int
        offset: int
        items: list[Any]

    def paginate_queryset(self, queryset, pagination, request, **params):
        rows, shown = (queryset.rows, queryset.page) if isinstance(queryset, Rows) else (queryset, list)
        start, stop = pagination.offset, pagination.offset + pagination.limit
        if isinstance(rows, QuerySet):
            page, count = list(rows[start:stop]), rows.count()
        else:
            rows = list(rows)
            page, count = rows[start:stop], len(rows)
        return {
            "count": count,
            "limit": pagination.limit,
            "offset": pagination.offset,
            "items": shown(page),
        }


# --------------------------------------------------------------------------- the request body


class StrictJsonParser(Parser):
    """JSON as RFC 8259 defines it: Python's ``json`` also reads NaN and Infinity, which no answer
    needs and PostgreSQL's jsonb cannot store."""

    def parse_body(self, request):
        def refuse(constant):
            raise ValueError(f"{constant} is not a JSON number")

        return json.loads(request.body, parse_constant=refuse)


# --------------------------------------------------------------------------- the OpenAPI schema

RESPONSES = {
    "401": "Not authenticated: a session cookie (with its second factor where the account needs one) or "
    "HTTP Basic, with the current code in X-OTP-Token for such accounts.",
    "403": "Your role, or your sites, do not allow this.",
    "404": "No such trial, participant, record or job (or one you may not know exists).",
    "409": "The record's state refuses this step (already done, ended, locked, changed since you loaded it).",
    "422": "Invalid input: errors names each field, the rule it broke and why; nothing was saved.",
}
UNSAFE_METHODS = {"post", "put", "patch", "delete"}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add ErrorOut and the error responses each operation can give to the OpenAPI schema: every
    operation 403, 404 and 422, 401 unless it is public, 409 for every unsafe method (and for any
    operation that lists 409 itself)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    generated = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(generated.pop("$defs", {}))
    components["ErrorOut"] = generated
    ref = {"$ref": "#/components/schemas/ErrorOut"}
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            codes = [403, 404, 422]
            if operation.get("security"):
                codes.append(401)
            if method in UNSAFE_METHODS:
                codes.append(409)
            responses = operation["responses"]  # keyed by int, as ninja keys them
            for code in codes:
                if code not in responses and str(code) not in responses:
                    responses[code] = {
                        "description": RESPONSES[str(code)],
                        "content": {"application/json": {"schema": ref}},
                    }
    return schema
