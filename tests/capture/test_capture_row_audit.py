"""Every change of a form row is a row event with field-level before/after, the person and the reason."""

import pytest
from capture_cases import NOW

from trialkit.server.audit.models import AuditEvent
from trialkit.server.capture.services import delete_form, save_form

pytestmark = pytest.mark.django_db


def _row_events(form):
    return list(AuditEvent.objects.filter(object_type="capture_formrecord", object_id=str(form.pk)).order_by("seq"))


def test_a_corrected_mrs_is_a_field_level_change_with_actor_and_reason(participant, staff):
    coordinator = staff["coordinator"]
    form = save_form(participant, "month3", "mrs", {"score": 3}, coordinator, complete=True, now=NOW)
    form = save_form(
        participant, "month3", "mrs", {"score": 2}, coordinator, complete=True, now=NOW, reason="source check"
    )
    insert, update = _row_events(form)
    assert insert.action == "row.insert" and insert.after["data"] == {"score": 3}
    assert update.action == "row.update"
    assert update.before["data"] == {"score": 3} and update.after["data"] == {"score": 2}
    assert set(update.before) == set(update.after) and "instrument" not in update.after  # changed fields only
    assert (update.actor, update.actor_id, update.reason) == ("cora", coordinator.pk, "source check")
    assert (update.participant_id, update.trial_id, update.site_id) == (
        participant.pk,
        participant.trial_id,
        participant.site_id,
    )
    assert update.at.utcoffset().total_seconds() == 0


def test_a_deleted_form_row_event_carries_the_reason(participant, staff):
    coordinator = staff["coordinator"]
    form = save_form(participant, "month3", "mrs", {"score": 3}, coordinator, complete=True, now=NOW)
    delete_form(form, staff["data_manager"], reason="entered for the wrong participant", now=NOW)
    last = _row_events(form)[-1]
    assert last.action == "row.update" and last.before["deleted_at"] is None and last.after["deleted_at"]
    assert (last.actor, last.reason) == ("dana", "entered for the wrong participant")
