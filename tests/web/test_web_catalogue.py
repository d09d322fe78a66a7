"""The Chinese catalogue is complete: CI fails on an untranslated, fuzzy or uncompiled string.

(a) every entry of locale/zh_Hans/LC_MESSAGES/django.po has a translation and none is fuzzy;
(b) the committed django.mo is the compiled .po (so a fresh machine needs no gettext to run);
(c) where GNU gettext is installed, ``makemessages`` run over a copy of the source finds no marked
    string the catalogue lacks (someone wrapped a string but did not run ``make messages``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polib
import pytest
from django.core.management import call_command
from django.test import override_settings

import trialkit.server

SERVER = Path(trialkit.server.__file__).resolve().parent
PO = SERVER / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def _key(entry: polib._BaseEntry) -> tuple[str | None, str]:
    return (entry.msgctxt, entry.msgid)


def _live(catalogue: polib._BaseFile) -> list[polib._BaseEntry]:
    return [e for e in catalogue if e.msgid and not e.obsolete]


def untranslated(po: polib.POFile) -> list[str]:
    """Entries a Chinese reader would see in English, or see a guess (fuzzy) of."""
    bad = []
    for entry in _live(po):
        if "fuzzy" in entry.flags:
            bad.append(f"fuzzy: {entry.msgid!r}")
        elif entry.msgid_plural:
            if not entry.msgstr_plural or not all(v.strip() for v in entry.msgstr_plural.values()):
                bad.append(f"untranslated plural: {entry.msgid!r}")
        elif not entry.msgstr.strip():
            bad.append(f"untranslated: {entry.msgid!r}")
    return bad


def test_every_string_of_the_chinese_catalogue_is_translated_and_none_is_fuzzy():
    bad = untranslated(polib.pofile(str(PO)))
    assert not bad, "the Chinese catalogue lacks translations (run `make messages`, fill msgstr):\n" + "\n".join(bad)


def test_the_check_names_an_empty_and_a_fuzzy_entry(tmp_path):
    po = polib.POFile()
    po.append(polib.POEntry(msgid="Visits due", msgstr="待访视"))
    po.append(polib.POEntry(msgid="Randomize", msgstr=""))
    po.append(polib.POEntry(msgid="Blinded", msgstr="盲态", flags=["fuzzy"]))
    po.append(polib.POEntry(msgid="{n} visit", msgid_plural="{n} visits", msgstr_plural={0: ""}))
    assert untranslated(po) == [
        "untranslated: 'Randomize'",
        "fuzzy: 'Blinded'",
        "untranslated plural: '{n} visit'",
    ]


def test_the_committed_mo_is_the_compiled_po():
    po = {_key(e): (e.msgstr, sorted(e.msgstr_plural.items())) for e in _live(polib.pofile(str(PO)))}
    mo = {_key(e): (e.msgstr, sorted(e.msgstr_plural.items())) for e in _live(polib.mofile(str(MO)))}
    stale = sorted(str(k[1]) for k in po.keys() ^ mo.keys()) + sorted(
        str(k[1]) for k in po.keys() & mo.keys() if po[k] != mo[k]
    )
    assert not stale, "django.mo is not the compiled django.po (run `make messages`): " + ", ".join(stale[:20])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("xgettext") is None or shutil.which("msgmerge") is None, reason="needs GNU gettext")
def test_no_marked_string_of_the_source_is_missing_from_the_catalogue(tmp_path, monkeypatch):
    copy = tmp_path / "server"
    shutil.copytree(
        SERVER,
        copy,
        ignore=shutil.ignore_patterns("static", "__pycache__", "*.mo", "migrations"),
    )
    monkeypatch.chdir(copy)
    with override_settings(LOCALE_PATHS=[copy / "locale"]):
        call_command("makemessages", locale=["zh_Hans"], verbosity=0)
    extracted = {_key(e) for e in _live(polib.pofile(str(copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po")))}
    committed = {_key(e) for e in _live(polib.pofile(str(PO)))}
    missing = sorted(msgid for _, msgid in extracted - committed)
    assert not missing, "marked in the source but not in the Chinese catalogue (run `make messages`):\n" + "\n".join(
        missing
    )
