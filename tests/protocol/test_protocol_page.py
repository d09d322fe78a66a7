"""The trial page shows the registry page's facts verbatim, in its order.

Reference: the two registry pages as published (ClinicalTrials.gov records shown on
ClinicalTrials.Veeva), committed as plain text under tests/protocol/seeds/. Every expected
string below is read from those files, never retyped.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.protocol import load_protocol
from trialkit.protocol.page import build_page, public_assumption_text, render_text

SEEDS = Path(__file__).resolve().parent / "seeds"
PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
SEED_FILES = {"NCT04590118": "NCT04590118-ASSIST.txt", "NCT07197606": "NCT07197606-IxCell.txt"}

# Headings of the registry page, checked against the seed text below before use.
PAGE_HEADINGS = [
    "Status and phase",
    "Conditions",
    "Treatments",
    "Study type",
    "Funder types",
    "Identifiers",
    "Details and patient eligibility",
    "About",
    "Full description",
    "Enrollment",
    "Sex",
    "Ages",
    "Volunteers",
    "Inclusion criteria",
    "Exclusion criteria",
    "Trial design",
    "Primary purpose",
    "Allocation",
    "Interventional model",
    "Masking",
    "Trial contacts and locations",
]


# --------------------------------------------------------------------------- reading a seed page


def seed_lines(nct_id: str) -> list[str]:
    return (SEEDS / SEED_FILES[nct_id]).read_text(encoding="utf-8").splitlines()


def seed_block(lines: list[str], heading: str) -> list[str]:
    """The non-empty lines after ``heading`` and one blank line, up to the next blank line."""
    i = lines.index(heading) + 1
    while not lines[i].strip():
        i += 1
    block = []
    while i < len(lines) and lines[i].strip():
        block.append(lines[i])
        i += 1
    return block


def seed_paragraphs(lines: list[str], heading: str, next_heading: str) -> list[str]:
    start, end = lines.index(heading), lines.index(next_heading)
    return [line for line in lines[start + 1 : end] if line.strip()]


def seed_bullets(lines: list[str], heading: str) -> list[list[str]]:
    """Bullets ("  • ") after ``heading``, up to the next heading; each a list of its lines.

    A bullet ending in ':' owns the non-bullet line that follows it (the organ-function list).
    """
    bullets: list[list[str]] = []
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("  • "):
            bullets.append([line[len("  • ") :]])
        elif not line.strip():
            continue
        elif bullets and len(bullets[-1]) == 1 and bullets[-1][0].endswith(":"):
            bullets[-1].append(line)
        else:
            break
    return bullets


def seed_title_and_sponsor(lines: list[str]) -> tuple[str, str]:
    content = [line for line in lines[lines.index("Menu") + 1 :] if line.strip()]
    # The title, then the sponsor's one-letter avatar, then the sponsor.
    assert len(content[1]) == 1
    return content[0], content[2]


def seed_arms(lines: list[str]) -> list[dict[str, str]]:
    arms = []
    for i, line in enumerate(lines):
        if line == "Description:":
            arms.append(
                {
                    "label": lines[i - 2],
                    "group_type": lines[i - 1],
                    "description": lines[i + 1],
                    "treatment": lines[i + 3],
                }
            )
            assert lines[i + 2] == "Treatment:"
    return arms


# --------------------------------------------------------------------------- reading our HTML


class PageReader(HTMLParser):
    """Collects the list items of each <section id=...> and every heading, from rendered HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.section: str | None = None
        self.items: dict[str, list[list[str]]] = {}
        self.headings: list[str] = []
        self._li: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.section = dict(attrs).get("id")
        elif tag == "li" and self.section:
            self._li = [""]
        elif tag == "br" and self._li is not None:
            self._li.append("")
        elif tag in {"h1", "h2", "h3"}:
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "li" and self._li is not None and self.section:
            lines = [line.strip("\n") for line in self._li]
            self.items.setdefault(self.section, []).append([line for line in lines if line])
            self._li = None
        elif tag in {"h1", "h2", "h3"} and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None
        elif tag == "section":
            self.section = None

    def handle_data(self, data: str) -> None:
        if self._li is not None:
            self._li[-1] += data
        if self._heading is not None:
            self._heading.append(data)


def show(nct_id: str, fmt: str = "html") -> str:
    result = CliRunner().invoke(app, ["protocol", "show", nct_id, "--format", fmt])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(autouse=True)
def _protocol_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIALKIT_PROTOCOL_DIR", str(PROTOCOLS))


def text_node(value: str) -> str:
    return html.escape(value, quote=False)


# --------------------------------------------------------------------------- tests

TRIALS = sorted(SEED_FILES)


@pytest.mark.parametrize("nct_id", TRIALS)
def test_html_page_lists_every_criterion_of_the_registry_page_verbatim_and_in_order(nct_id: str) -> None:
    lines = seed_lines(nct_id)
    page = show(nct_id)
    reader = PageReader()
    reader.feed(page)
    for heading, section in (("Inclusion criteria", "inclusion"), ("Exclusion criteria", "exclusion")):
        expected = seed_bullets(lines, heading)
        assert expected, f"no bullets read under {heading!r}"
        assert reader.items[section] == expected
        for bullet in expected:
            for line in bullet:
                assert text_node(line) in page


def test_the_organ_function_criterion_keeps_its_list_as_a_second_line_of_the_same_bullet() -> None:
    lines = seed_lines("NCT04590118")
    organ = [b for b in seed_bullets(lines, "Inclusion criteria") if b[0].startswith("Organ function")]
    assert len(organ) == 1 and len(organ[0]) == 2
    reader = PageReader()
    reader.feed(show("NCT04590118"))
    assert organ[0] in reader.items["inclusion"]
    assert organ[0][1].startswith("AST ≤ 2.5×ULN")


@pytest.mark.parametrize("nct_id", TRIALS)
def test_html_page_shows_each_arm_as_the_registry_page_does(nct_id: str) -> None:
    lines = seed_lines(nct_id)
    page = show(nct_id)
    arms = seed_arms(lines)
    assert len(arms) == 2
    position = 0
    for arm in arms:
        for key in ("label", "group_type", "description", "treatment"):
            found = page.find(text_node(arm[key]), position if key == "label" else 0)
            assert found >= 0, f"{key} {arm[key]!r} missing"
        position = page.find(text_node(arm["label"]), position)
    summary = next(line for line in lines if " participants in " in line)
    assert text_node(summary) in page


@pytest.mark.parametrize("nct_id", TRIALS)
def test_html_page_carries_the_registry_facts(nct_id: str) -> None:
    lines = seed_lines(nct_id)
    page = show(nct_id)
    title, sponsor = seed_title_and_sponsor(lines)
    assert f"<h1>{text_node(title)}</h1>" in page
    assert text_node(sponsor) in page
    facts = [
        *seed_block(lines, "Status and phase"),
        *seed_block(lines, "Conditions"),
        *seed_block(lines, "Treatments"),
        *seed_block(lines, "Study type"),
        *seed_block(lines, "Funder types"),
        *seed_block(lines, "Identifiers"),
        *seed_block(lines, "Enrollment"),
        *seed_block(lines, "Sex"),
        *seed_block(lines, "Ages"),
        *seed_block(lines, "Volunteers"),
        *seed_block(lines, "Primary purpose"),
        *seed_block(lines, "Allocation"),
        *seed_block(lines, "Interventional model"),
        *seed_block(lines, "Masking"),
    ]
    for fact in facts:
        assert f"<li>{text_node(fact)}</li>" in page, fact
    for paragraph in seed_paragraphs(lines, "About", "Full description") + seed_paragraphs(
        lines, "Full description", "Enrollment"
    ):
        assert f"<p>{text_node(paragraph)}</p>" in page
    if "Central trial contact" in lines:
        for contact in seed_block(lines, "Central trial contact"):
            assert text_node(contact) in page
    # The registry page counts its locations ("1") under "Trial contacts and locations".
    count = int(seed_block(lines, "Trial contacts and locations")[0])
    assert f"{count} location" in page


def test_the_seed_pages_state_the_enrollment_ages_and_contact_the_page_shows() -> None:
    """Pins the values read from the seeds, so a broken seed reader cannot pass vacuously."""
    assist, ixcell = seed_lines("NCT04590118"), seed_lines("NCT07197606")
    assert seed_block(assist, "Enrollment") == ["60 estimated patients"]
    assert seed_block(assist, "Ages") == ["18+ years old"]
    assert seed_block(ixcell, "Ages") == ["18 to 70 years old"]
    assert seed_block(ixcell, "Central trial contact") == ["Ming Xiao, PHD"]
    assert seed_block(assist, "Identifiers") == ["NCT04590118", "STCMSC-CT-001"]
    assert len(seed_paragraphs(assist, "Full description", "Enrollment")) == 2


@pytest.mark.parametrize("nct_id", TRIALS)
def test_page_sections_come_in_the_registry_page_order(nct_id: str) -> None:
    lines = seed_lines(nct_id)
    seed_order = sorted(PAGE_HEADINGS, key=lines.index)  # raises if a heading is not on the seed page
    assert seed_order == PAGE_HEADINGS
    reader = PageReader()
    reader.feed(show(nct_id))
    shown = [h for h in reader.headings if h in PAGE_HEADINGS]
    assert shown == PAGE_HEADINGS
    # TrialKit's own section comes after every registry section.
    assert reader.headings[-1] == "Assumptions not stated by the registry"


@pytest.mark.parametrize("nct_id", TRIALS)
def test_assumptions_are_listed_apart_from_the_registry_facts(nct_id: str) -> None:
    protocol = load_protocol(nct_id)
    page = show(nct_id)
    marker = '<section id="assumptions" class="trialkit">'
    assert page.count(marker) == 1
    registry_part, trialkit_part = page.split(marker)
    assert protocol.assumptions
    for path, text in protocol.assumptions:
        # The randomization's own assumption is shown concealed (no block sizes): see
        # test_protocol_design_concealment.py.
        text = public_assumption_text(protocol, path, text)
        assert text_node(text) in trialkit_part
        assert text_node(text) not in registry_part
    # The unnamed site is shown, and flagged as not named by the registry.
    assert "Not named by the registry" in registry_part


def test_html_keeps_apostrophes_and_comparison_signs_readable() -> None:
    page = show("NCT07197606")
    assert "Parkinson's disease" in page
    assert "Age ≥18 years and ≤70 years" in page
    assert "score &lt;2 points" in page  # '<' must be escaped in a text node
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert '<meta charset="utf-8">' in page and "<style>" in page


@pytest.mark.parametrize("nct_id", TRIALS)
def test_text_page_lists_every_criterion_line(nct_id: str) -> None:
    lines = seed_lines(nct_id)
    text = render_text(build_page(load_protocol(nct_id)))
    assert text == show(nct_id, "text")
    for heading in ("Inclusion criteria", "Exclusion criteria"):
        for bullet in seed_bullets(lines, heading):
            assert f"• {bullet[0]}\n" in text
            for continuation in bullet[1:]:
                assert f"  {continuation}\n" in text


def test_finder_card_fields() -> None:
    cards = {nct: build_page(load_protocol(nct)).card for nct in TRIALS}
    assert cards["NCT04590118"].acronym == "ASSIST"
    assert cards["NCT04590118"].status_label == "Unknown"
    assert cards["NCT04590118"].phases_label == "Phase 1 / Phase 2"
    assert cards["NCT07197606"].status_label == "Not yet enrolling"
    assert cards["NCT07197606"].phases_label == "Phase 2"
    assert cards["NCT07197606"].conditions == ("Ischemic Stroke",)
    assert cards["NCT07197606"].locations_summary == "1 location in China"
    assert cards["NCT07197606"].ages_label == "18 to 70 years old"


def test_show_json_is_the_validated_protocol_with_its_assumptions() -> None:
    import json

    data = json.loads(show("NCT07197606", "json"))
    protocol = load_protocol("NCT07197606")
    assumptions = data.pop("assumptions")
    expected = protocol.model_dump(mode="json")
    # Block sizes and the randomization's own wording are concealed (design concealment).
    for key in ("block_sizes", "assumption"):
        assert data["randomization"].pop(key) != expected["randomization"].pop(key)
    assert data == expected
    assert [(a["path"], a["text"]) for a in assumptions] == [
        (path, public_assumption_text(protocol, path, text)) for path, text in protocol.assumptions
    ]


def test_show_accepts_a_path_and_writes_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    result = CliRunner().invoke(
        app, ["protocol", "show", str(PROTOCOLS / "NCT04590118.yaml"), "--format", "html", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == show("NCT04590118")


def test_show_an_unknown_trial_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["protocol", "show", "NCT00000001"])
    assert result.exit_code == 2
    assert "no protocol NCT00000001" in result.stderr


def test_page_model_is_plain_data_a_template_can_walk() -> None:
    page = build_page(load_protocol("NCT04590118"))
    assert [s.id for s in page.sections] == [
        "title", "sponsor", "status", "conditions", "treatments", "study_type", "funder_types", "identifiers",
        "about", "description", "enrollment", "sex", "ages", "volunteers", "inclusion", "exclusion",
        "design", "contacts", "assumptions",
    ]  # fmt: skip
    assert [s.id for s in page.sections if s.origin == "trialkit"] == ["assumptions"]
    inclusion = page.section("inclusion").blocks[0]
    assert inclusion.kind == "bullets"
    assert [b.ref for b in inclusion.items][:2] == ["inc-age", "inc-stroke-over-6-months"]
    arms = [b for b in page.section("design").blocks if b.kind == "arm"]
    assert [(a.label, a.group_type, a.treatments) for a in arms] == [
        ("Experimental: it-hMSC", "Experimental group", ("Drug: it-hMSC",)),
        ("Placebo-controlled: Placebo", "Placebo Comparator group", ("Drug: Placebo",)),
    ]
    assert len(page.assumptions) == len(load_protocol("NCT04590118").assumptions)


def test_labels_for_other_registry_values() -> None:
    from trialkit.protocol.page import ages_label, enrollment_label, groups_summary, locations_summary

    p = load_protocol("NCT07197606")

    def with_registry(**update: object):  # type: ignore[no-untyped-def]
        return p.model_copy(update={"registry": p.registry.model_copy(update=update)})

    assert ages_label(with_registry(minimum_age_years=None)) == "Up to 70 years old"
    assert ages_label(with_registry(minimum_age_years=None, maximum_age_years=None)) == "All ages"
    actual = with_registry(enrollment=p.registry.enrollment.model_copy(update={"type": "ACTUAL", "count": 1}))
    assert enrollment_label(actual) == "1 actual patient"
    site = p.registry.locations[0]
    two_countries = with_registry(locations=[site, site.model_copy(update={"id": "us-01", "country": "United States"})])
    assert locations_summary(two_countries) == "2 locations in China and United States"
    assert locations_summary(with_registry(locations=[])) == "No locations listed"
    single_arm = p.model_copy(update={"arms": p.arms[:1]})
    assert groups_summary(single_arm) == "86 participants in 1 patient group"


@pytest.mark.slow
def test_the_page_module_does_not_import_django() -> None:
    import subprocess
    import sys

    code = "import sys, trialkit.protocol.page, trialkit.cli.protocol_cmd; assert 'django' not in sys.modules"
    src = Path(__file__).resolve().parents[2] / "src"
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(src)})
