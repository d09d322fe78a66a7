"""Protocol files: the schema of a trial, loading with located errors, and the public trial page."""

from typing import TYPE_CHECKING, Any

from trialkit.protocol.loader import (
    ProtocolError,
    ProtocolIssue,
    default_protocol_dir,
    load_all,
    load_protocol,
    load_protocol_file,
    parse_protocol,
    protocol_files,
    validate_files,
)
from trialkit.protocol.schema import Arm, Criterion, Protocol, Visit

if TYPE_CHECKING:
    from trialkit.protocol.page import TrialCard, TrialPage, build_page, render_html, render_text, trial_card

_PAGE = frozenset({"TrialCard", "TrialPage", "build_page", "render_html", "render_text", "trial_card"})


def __getattr__(name: str) -> Any:
    # The public page (HTML and text rendering) is imported when asked for: loading a protocol to
    # screen or allocate does not need it.
    if name in _PAGE:
        from trialkit.protocol import page

        return getattr(page, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Arm",
    "Criterion",
    "Protocol",
    "ProtocolError",
    "ProtocolIssue",
    "TrialCard",
    "TrialPage",
    "Visit",
    "build_page",
    "default_protocol_dir",
    "load_all",
    "load_protocol",
    "load_protocol_file",
    "parse_protocol",
    "protocol_files",
    "render_html",
    "render_text",
    "trial_card",
    "validate_files",
]
