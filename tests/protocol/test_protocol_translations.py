"""Translated registry texts in a protocol file (``translations: {zh-Hans: ...}``) and the page in a language."""

import pytest
import yaml

from trialkit.protocol import ProtocolError, load_protocol, parse_protocol
from trialkit.protocol.loader import default_protocol_dir
from trialkit.protocol.page import PAGE_WORDING, build_page, render_html, render_html_body, render_text

IXCELL = "NCT07197606"


def _data():
    return yaml.safe_load((default_protocol_dir() / f"{IXCELL}.yaml").read_text())


def _issue(data):
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "x.yaml")
    return caught.value.issues[0]


def test_both_seed_protocols_carry_chinese_registry_texts_for_every_criterion_and_arm():
    for path in sorted(default_protocol_dir().glob("NCT*.yaml")):
        protocol = load_protocol(path)
        zh = protocol.translation("zh-hans")
        assert zh is not None and zh.brief_title and zh.brief_summary and zh.detailed_description
        assert set(zh.criteria) == {c.id for c in protocol.eligibility.criteria}
        assert set(zh.arms) == {a.id for a in protocol.arms}


def test_an_unknown_language_is_named_with_its_path():
    data = _data()
    data["translations"]["fr"] = {"brief_title": "Essai"}
    issue = _issue(data)
    assert issue.path == "translations.fr" and "'fr'" in issue.message and "zh-Hans" in issue.message


def test_an_unknown_field_is_named_with_its_path():
    data = _data()
    data["translations"]["zh-Hans"]["sponsor"] = "上海"
    issue = _issue(data)
    assert issue.path == "translations.zh-Hans.sponsor"


@pytest.mark.slow
@pytest.mark.parametrize(
    "where, value, path, words",
    [
        ("criteria", {"inc-nope": "文本"}, "translations.zh-Hans.criteria.inc-nope", "inc-nope"),
        ("arms", {"arm-x": "文本"}, "translations.zh-Hans.arms.arm-x", "arm-x"),
        ("conditions", ["缺血性卒中", "多余"], "translations.zh-Hans.conditions", "2 conditions translated"),
        ("brief_title", "", "translations.zh-Hans.brief_title", ""),
        ("brief_title", 12, "translations.zh-Hans.brief_title", ""),
    ],
)
def test_a_bad_translation_is_refused_at_its_field(where, value, path, words):
    data = _data()
    data["translations"]["zh-Hans"][where] = value
    issue = _issue(data)
    assert issue.path == path and words in issue.message


def test_the_chinese_page_uses_the_translations_and_the_labels():
    protocol = load_protocol(default_protocol_dir() / f"{IXCELL}.yaml")
    labels = {
        "Inclusion criteria": "入选标准",
        "{lo} to {hi} years old": "{lo} 至 {hi} 岁",
        "Registry facts from:": "来源：",
    }
    page = build_page(protocol, "zh-Hans", labels)
    body = render_html_body(page)
    assert page.title.startswith("脐带间充质干细胞") and page.card.conditions == ("缺血性卒中",)
    assert "<h2>入选标准</h2>" in body and "18 至 70 岁" in body and "来源：" in body
    assert "静脉注射间充质干细胞" in body  # the arm's description
    # Wording the labels do not give stays English; names and identifiers are never translated.
    assert "<h2>Exclusion criteria</h2>" in body and "IxCell hUC-MSC-S" in body and IXCELL in body
    assert render_html(page).startswith('<!DOCTYPE html>\n<html lang="zh-Hans">')


def test_english_is_unchanged_whatever_the_translations():
    protocol = load_protocol(default_protocol_dir() / f"{IXCELL}.yaml")
    data = _data()
    del data["translations"]
    without = parse_protocol(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "x.yaml")
    assert render_text(build_page(protocol)) == render_text(build_page(without))
    assert render_html(build_page(protocol, "en")) == render_html(build_page(without))


def test_a_language_without_translations_falls_back_to_english_texts():
    protocol = load_protocol(default_protocol_dir() / f"{IXCELL}.yaml")
    page = build_page(protocol, "de", {})
    assert page.title == protocol.registry.brief_title


def test_the_page_wording_is_unique_and_every_placeholder_is_named():
    assert len(PAGE_WORDING) == len(set(PAGE_WORDING))
    assert all("{}" not in text for text in PAGE_WORDING)
