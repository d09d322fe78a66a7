"""The labels of stored choices (statuses, roles, methods, decisions) are shown in the reader's
language; the stored values stay English codes, and the labels need no migration."""

import pytest
from django.utils import translation

from trialkit.dosing import custody
from trialkit.server.accounts.roles import Role
from trialkit.server.allocation.models import AllocationList, EscalationDecision
from trialkit.server.capture.models import (
    AdverseEventFollowUp,
    DiaryAccess,
    DiaryContact,
    DiaryEntry,
    FormRecord,
    Query,
    QueryMessage,
)
from trialkit.server.jobs.models import Job
from trialkit.server.participants.models import Participant
from trialkit.server.product.models import KIT_STATE_LABELS, Kit, Lot, ResupplyRequest, TemperatureExcursion

CHOICES = [
    Role,
    AllocationList.Method,
    EscalationDecision.Decision,
    FormRecord.Status,
    Query.Status,
    QueryMessage.Kind,
    AdverseEventFollowUp.Seriousness,
    Job.Status,
    Lot.Sterility,
    Lot.Status,
    ResupplyRequest.Status,
    TemperatureExcursion.Decision,
    Participant.Status,
    DiaryAccess.Who,
    DiaryContact.Channel,
    DiaryEntry.Who,
]


@pytest.mark.parametrize("choices", CHOICES, ids=lambda c: c.__qualname__)
def test_every_label_has_a_chinese_word_and_the_value_stays_english(choices):
    with translation.override("en"):
        english = {c.value: str(c.label) for c in choices}
    with translation.override("zh-hans"):
        chinese = {c.value: str(c.label) for c in choices}
    assert set(english) == set(chinese)
    assert all(v.isascii() for v in english), english
    same = [v for v in english if english[v] == chinese[v]]
    assert not same, same


def test_every_kit_state_has_a_chinese_word_and_the_core_s_english_word():
    assert set(KIT_STATE_LABELS) == set(custody.STATES)
    with translation.override("en"):
        assert {s: str(w) for s, w in KIT_STATE_LABELS.items()} == custody.STATE_LABELS
    with translation.override("zh-hans"):
        assert str(Kit(status=custody.STORED).get_status_display()) == "储存中"
        assert all(str(w) != custody.STATE_LABELS[s] for s, w in KIT_STATE_LABELS.items())
