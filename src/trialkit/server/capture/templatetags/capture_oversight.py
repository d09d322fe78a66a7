"""Template filters of the oversight pages."""

from django import template

from trialkit.server.capture.oversight import form_title as _form_title

register = template.Library()


@register.filter
def form_title(instrument: str) -> str:
    """The instrument's title ("NIH Stroke Scale"), never its code."""
    return _form_title(instrument)
