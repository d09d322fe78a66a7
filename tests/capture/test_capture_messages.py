"""The capture services' refusals in the reader's language (translated when raised); the staff
pages show them in Chinese to a Chinese browser, in English otherwise."""

from __future__ import annotations

import pytest
import time_machine
from auth_support import login_verified
from capture_cases import NOW
from django.utils import translation

from trialkit.server.capture.models import Signature
from trialkit.server.capture.services import CaptureError, EditConflict, FormInvalid, lock_form, save_form

pytestmark = pytest.mark.django_db
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}


def test_refusals_are_in_the_language_active_when_raised(participant, staff):
    form = save_form(participant, "month3", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW)
    for language, text in (("zh-hans", "锁定表单需要填写原因"), ("en", "locking a form needs a reason")):
        with translation.override(language), pytest.raises(CaptureError) as refused:
            lock_form(form, staff["data_manager"], reason="", now=NOW)
        assert str(refused.value) == text
    with translation.override("zh-hans"), pytest.raises(FormInvalid) as invalid:
        save_form(participant, "month3", "mrs", {"score": 3}, staff["coordinator"], complete=True, now=NOW)
    assert invalid.value.as_list() == [
        {"field": "reason", "rule": "required", "message": "修改已完成的表单需要填写原因"}
    ]
    with translation.override("zh-hans"), pytest.raises(EditConflict) as conflict:
        save_form(
            participant,
            "month3",
            "mrs",
            {"score": 3},
            staff["investigator"],
            complete=True,
            now=NOW,
            expected_version=0,
        )
    assert "此表单已由 cora 录入" in str(conflict.value)


def test_a_refused_signature_is_shown_in_the_readers_language(client, participant, staff):
    save_form(participant, "month3", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW)
    client.force_login(staff["investigator"])
    url = f"/capture/participants/{participant.pk}/visits/month3/sign/"
    chinese = client.post(url, {"password": "guess"}, follow=True, **ZH).content.decode()
    assert "密码不正确；签名未生效" in chinese and "the signature was not applied" not in chinese
    english = client.post(url, {"password": "guess"}, follow=True, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "the password is not correct; the signature was not applied" in english
    assert not Signature.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_the_visit_review_answers_in_the_readers_language(client, participant, staff):
    forms = [
        save_form(participant, "baseline", "mrs", {"score": 2}, staff["coordinator"], complete=True, now=NOW),
        save_form(participant, "baseline", "barthel", {}, staff["coordinator"], complete=False, now=NOW),
    ]
    lock_form(forms[0], staff["data_manager"], reason="early", now=NOW)
    login_verified(client, staff["data_manager"])
    url = f"/capture/participants/{participant.pk}/visits/baseline/review/"
    ids = [f.pk for f in forms]
    no_reason = client.post(url, {"forms": ids, "action": "lock", "reason": " "}, **ZH).content.decode()
    assert "未执行任何操作：请填写原因。" in no_reason and "请说明锁定这些表单的原因" in no_reason
    done = client.post(url, {"forms": ids, "action": "lock", "reason": "clean"}, follow=True, **ZH).content.decode()
    assert "已锁定 1 个表单。" in done and "跳过 1 个" in done and "(已锁定)" in done and "already" not in done
    english = client.post(url, {"forms": ids, "action": "lock", "reason": " "}, HTTP_ACCEPT_LANGUAGE="en")
    assert "Nothing was done: give a reason." in english.content.decode()
