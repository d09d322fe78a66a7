"""Protocol files: the schema of a trial, loading with located errors, and the public trial page."""

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
from trialkit.protocol.page import TrialCard, TrialPage, build_page, render_html, render_text, trial_card
from trialkit.protocol.schema import Arm, Criterion, Protocol, Visit

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
