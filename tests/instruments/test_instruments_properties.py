"""Property tests: any valid form scores inside the scale's range; any disallowed value is
rejected by item name."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialkit.instruments import SCALES, get_instrument
from trialkit.instruments.nihss import COMA_SCORES

SCALE_NAMES = [s.name for s in SCALES]


def _repair(name, form):
    # Bring a random form in line with the published cross-item rules, so every draw is valid.
    if name == "nihss":
        if form["1a"] == 3:
            form.update({k: allowed[0] for k, allowed in COMA_SCORES.items()})
        movable = sum(1 for k in ("5a", "5b", "6a", "6b") if isinstance(form[k], int) and form[k] < 4)
        if isinstance(form["7"], int):
            form["7"] = min(form["7"], movable)
    if name in ("fma_ue", "fma_le"):
        inst = get_instrument(name)
        part_iv = [i.key for i in inst.items if "isolated" in i.key]
        part_v = next(i.key for i in inst.items if "normal_reflex" in i.key)
        if sum(form[k] for k in part_iv) < 2 * len(part_iv):
            form[part_v] = 0
    return form


@st.composite
def valid_forms(draw, name):
    inst = get_instrument(name)
    form = {i.key: draw(st.sampled_from(i.allowed_values)) for i in inst.items if i.part_of is None}
    return _repair(name, form)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(SCALE_NAMES))
def test_any_valid_form_scores_inside_the_published_range(data, name):
    inst = get_instrument(name)
    form = data.draw(valid_forms(name))
    scored = inst.score(form)
    low, high = inst.total_range
    assert low <= scored.total <= high
    assert scored.total == sum(v for v in form.values() if isinstance(v, int))
    for key, value in scored.subscores.items():
        lo, hi = inst.subscale_range(key)
        assert lo <= value <= hi


BAD_VALUES = st.one_of(
    st.integers(min_value=-1000, max_value=1000),
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not float(f).is_integer() if f == f else True),
    st.booleans(),
    st.text(max_size=5),
    st.none().map(lambda _: "UN"),
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(data=st.data(), name=st.sampled_from(SCALE_NAMES))
def test_any_disallowed_item_value_is_rejected_by_name(data, name):
    inst = get_instrument(name)
    form = data.draw(valid_forms(name))
    item = data.draw(st.sampled_from([i for i in inst.items if i.part_of is None]))
    bad = data.draw(
        BAD_VALUES.filter(
            lambda v: (
                not (isinstance(v, str) and not v.strip())  # blank is "missing", tested elsewhere
                and item.clean(v)[1] is not None
            )
        )
    )
    errors = inst.validate({**form, item.key: bad})
    assert errors, f"{item.key}={bad!r} accepted"
    assert any(e.item == item.key for e in errors)
    named = next(e for e in errors if e.item == item.key)
    assert "allowed" in named.message


@settings(max_examples=100, deadline=None)
@given(data=st.data(), name=st.sampled_from(SCALE_NAMES))
def test_integers_outside_an_item_are_always_rejected(data, name):
    """The strict check behind the previous test: integer values not on the published form."""
    inst = get_instrument(name)
    item = data.draw(st.sampled_from([i for i in inst.items if i.part_of is None]))
    bad = data.draw(st.integers(-50, 150).filter(lambda v: v not in item.allowed_values))
    errors = inst.validate({item.key: bad}, partial=True)
    assert [(e.item, e.value) for e in errors] == [(item.key, bad)]
