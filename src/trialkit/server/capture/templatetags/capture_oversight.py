"""Template filters of the oversight pages."""

import functools
import html

from django import template
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from trialkit.server.capture.oversight import form_title as _form_title

register = template.Library()


@register.filter
def form_title(instrument: str) -> str:
    """The instrument's title ("NIH Stroke Scale"), never its code."""
    return _form_title(instrument)


@register.simple_tag
def form_squares(vc) -> str:
    """The squares of one visit's forms on the record status grid (``capture/dashboard.html``).

    Written here rather than in the template: a page of the grid holds over a thousand squares, and
    drawing them took the template engine most of the page's time. The same markup, every text
    escaped as the template escapes it (``html.escape``, which Django's ``escape`` is)."""
    e = _escaped
    label = e(vc.visit.label)
    out = []
    for cell in vc.cells:
        state, title, href = cell.state, e(cell.title), e(cell.href)
        if cell.repeats:
            count = len(cell.records)
            said = gettext("%(label)s, %(title)s: %(records)s records, the least advanced %(label2)s") % {
                "label": label,
                "title": title,
                "records": count,
                "label2": e(state.label),
            }
            items = "".join(
                f'<li><a class="fs fs-{e(each.code)}" href="{href}?repeat={record.repeat}">'
                f'<span aria-hidden="true">{e(each.symbol)}</span><span class="sr-only">{label}, {title} '
                f"#{record.repeat}: {e(each.label)}</span></a> #{record.repeat} {e(each.label)}</li>"
                for record, each in cell.records
            )
            out.append(
                f'<details class="fs-repeats"><summary class="fs fs-{e(state.code)}" title="{title}: {count} '
                f'records, the least advanced {e(str(state.label).lower())}"><span aria-hidden="true">'
                f'{e(state.symbol)}<sup>{count}</sup></span><span class="sr-only">{said}</span></summary>\n'
                f"            <ul>{items}</ul></details>"
            )
        else:
            out.append(
                f'<a class="fs fs-{e(state.code)}" href="{href}" title="{title}: {e(state.label)}">'
                f'<span aria-hidden="true">{e(state.symbol)}</span><span class="sr-only">{label}, {title}: '
                f"{e(state.label)}</span></a>"
            )
    return mark_safe("".join(out))  # every piece escaped above


def _escaped(text) -> str:
    """A text of the grid as the template would print it (a text translated lazily is read in the
    request's language; a plain one is escaped once: a few dozen distinct texts repeat there)."""
    return _escaped_str(text) if type(text) is str else html.escape(str(text))


@functools.lru_cache(maxsize=4096)
def _escaped_str(text: str) -> str:
    return html.escape(text)
