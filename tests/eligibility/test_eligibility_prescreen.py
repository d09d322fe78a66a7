"""The public pre-screener: questions from the protocol, answers to facts, and the same screen()."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialkit.eligibility import screen
from trialkit.eligibility.prescreen import PrescreenError, facts_for_record, prescreen, questions, read_answers
from trialkit.protocol import load_protocol
from trialkit.protocol.loader import ProtocolError, default_protocol_dir, parse_protocol

TODAY = date(2026, 12, 1)


@pytest.fixture(scope="module")
def ixcell():
    return load_protocol("NCT07197606")


@pytest.fixture(scope="module")
def assist():
    return load_protocol("NCT04590118")


def test_questions_come_from_the_protocol(ixcell, assist):
    assert [q.id for q in questions(ixcell)] == [
        "age",
        "sex",
        "stroke-type",
        "stroke-date",
        "territory",
        "before-stroke",
        "weakness",
        "awake",
    ]
    assert "pregnant" in [q.id for q in questions(assist)]


def test_answers_become_facts(ixcell):
    answers, facts = read_answers(
        ixcell,
        {"age": "64", "stroke-type": "ischemic", "stroke-date": "2026-11-01", "before-stroke": "1", "weakness": "yes"},
        TODAY,
    )
    assert facts == {
        "screening_date": TODAY,
        "age": 64,
        "stroke": {"type": "ischemic", "onset_date": date(2026, 11, 1)},
        "premorbid_mrs": 1,
    }
    assert answers["weakness"] == "yes"  # asked for the site only: kept, decides nothing
    assert facts_for_record(facts) == {
        "age": 64,
        "stroke": {"type": "ischemic", "onset_date": "2026-11-01"},
        "premorbid_mrs": 1,
    }


def test_blank_is_unknown_never_a_default(ixcell):
    answers, facts = read_answers(ixcell, {"age": "  ", "sex": ""}, TODAY)
    assert answers == {} and facts == {"screening_date": TODAY}
    result = prescreen(ixcell, {}, TODAY)
    assert result.outcome == "may_be_eligible"
    assert {c.id for c in result.site_checks} == {c.id for c in ixcell.eligibility.criteria}


def test_not_eligible_names_the_criteria(ixcell):
    result = prescreen(ixcell, {"age": "75", "before-stroke": "3"}, TODAY)
    assert result.outcome == "not_eligible"
    assert [c.id for c in result.reasons] == ["inc-age", "exc-premorbid-mrs"]
    assert "75" in result.reasons[0].reason


def test_too_early_after_stroke_is_not_eligible(ixcell):
    result = prescreen(
        ixcell, {"stroke-type": "ischemic", "stroke-date": (TODAY - timedelta(days=3)).isoformat()}, TODAY
    )
    assert "inc-days-since-stroke" in [c.id for c in result.reasons]


@pytest.mark.parametrize(
    "question, value, rule",
    [
        ("age", "sixty", "integer_range"),
        ("age", "131", "integer_range"),
        ("age", "-1", "integer_range"),
        ("territory", "left", "choice"),
        ("stroke-date", "2026-13-01", "date"),
        ("stroke-date", "2027-01-01", "date"),
        ("weakness", "maybe", "yes_no"),
        ("age", "1" * 10_000, "max_length"),
        ("age", "6\x004", "null_characters"),
        ("age", 64, "type"),
    ],
)
def test_bad_answers_name_the_question_and_rule(ixcell, question, value, rule):
    with pytest.raises(PrescreenError) as caught:
        prescreen(ixcell, {question: value}, TODAY)
    assert caught.value.errors[0][:2] == (question, rule)


# Agreement with screen(): the pre-screener is screen() on the facts its answers give, nothing else.
ANSWERS = st.fixed_dictionaries(
    {},
    optional={
        "age": st.integers(0, 120).map(str),
        "sex": st.sampled_from(["female", "male"]),
        "stroke-type": st.sampled_from(["ischemic", "hemorrhagic"]),
        "stroke-date": st.integers(0, 800).map(lambda d: (TODAY - timedelta(days=d)).isoformat()),
        "territory": st.sampled_from(["anterior", "posterior"]),
        "before-stroke": st.integers(0, 5).map(str),
        "pregnant": st.sampled_from(["yes", "no"]),
    },
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(answers=ANSWERS)
def test_prescreen_agrees_with_screen_on_the_same_facts(ixcell, assist, answers):
    for protocol in (ixcell, assist):
        known = {q.id for q in questions(protocol)}
        mine = {k: v for k, v in answers.items() if k in known}
        result = prescreen(protocol, mine, TODAY)
        direct = screen(protocol, read_answers(protocol, mine, TODAY)[1], today=TODAY)
        assert [(c.id, c.status) for c in result.screening.criteria] == [(c.id, c.status) for c in direct.criteria]
        assert (result.outcome == "not_eligible") == (direct.verdict == "ineligible")
        assert [c.id for c in result.reasons] == [c.id for c in direct.failed]
        assert [c.id for c in result.site_checks] == [c.id for c in direct.unknown]
        # A pre-screen never says "eligible": something always remains for the site.
        assert direct.verdict != "eligible"


def _protocol_text() -> str:
    return (default_protocol_dir() / "NCT07197606.yaml").read_text()


@pytest.mark.parametrize(
    "old, new, where",
    [
        ("      fact: premorbid_mrs\n", "      fact: labs.ast\n", "fact"),
        ("      kind: number\n      fact: age\n", "      kind: date\n      fact: age\n", "kind"),
        ("    - id: territory\n", "    - id: age\n", "prescreen.questions"),
    ],
)
def test_a_wrong_prescreen_section_is_refused_where_it_is_wrong(old, new, where):
    text = _protocol_text()
    assert old in text
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(text.replace(old, new, 1), "NCT07197606.yaml")
    assert where in str(caught.value)
