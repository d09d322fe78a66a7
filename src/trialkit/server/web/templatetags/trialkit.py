"""Template filters every page uses (loaded as a builtin): ``|day`` and ``|when`` write dates and
times one way (``trialkit.server.web.dates``); ``|form_label`` and ``|item_label`` turn instrument
and item keys into the labels of the instrument definitions."""

from __future__ import annotations

from django import template

from trialkit.server.capture.form_names import form_label as _form_label
from trialkit.server.capture.form_names import item_label as _item_label
from trialkit.server.web.dates import format_date, format_datetime
from trialkit.server.web.status_words import form_status_label, query_status_label, visit_status_label

register = template.Library()


@register.filter
def day(value, empty: str = "—") -> str:
    return format_date(value, empty)


@register.filter
def when(value, empty: str = "—") -> str:
    return format_datetime(value, empty)


@register.filter
def form_label(name) -> str:
    return _form_label(str(name))


@register.filter
def item_label(key, instrument) -> str:
    return _item_label(str(instrument), str(key))


@register.filter
def thousands(value) -> str:
    """68500000 -> "68,500,000"; 12.5 -> "12.5"."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return f"{number:,.0f}" if number == int(number) else f"{number:,.2f}".rstrip("0").rstrip(".")


@register.filter
def visit_status(status) -> str:
    """A visit status (the schedule's value) in the reader's language."""
    return visit_status_label(status)


@register.filter
def form_status(status) -> str:
    """A form's stored status (draft, complete) in the reader's language."""
    return form_status_label(status)


@register.filter
def query_status(status) -> str:
    """A query's stored status (open, answered, closed) in the reader's language."""
    return query_status_label(status)
