"""Coding adverse event terms through a pluggable dictionary.

``Dictionary`` is the interface: ``code(verbatim)`` gives the coded term or None, ``search(text)``
the candidates. Two implementations:

* :class:`MeddraDictionary` reads the sponsor's own MedDRA ASCII distribution (``llt.asc`` and
  ``pt.asc``, optionally ``soc.asc``, ``$``-separated, one record per line, as the MSSO ships
  them). MedDRA is licensed: TrialKit ships no MedDRA file and no MedDRA code.
* :class:`OpenDictionary`, the default: a small open list of common adverse event terms in the
  style of CTCAE v5 term names (NCI, public domain), grouped by body system, with TrialKit's own
  identifiers (``open:<slug>``) rather than MedDRA codes.

The CTCAE v5 grade is kept on the event form; coding never changes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class CodedTerm:
    dictionary: str  # e.g. "MedDRA 27.0" or "TrialKit open list 1"
    code: str  # the lowest-level term code (MedDRA LLT) or the open list's id
    term: str  # the lowest-level term
    preferred_code: str
    preferred_term: str
    system_organ_class: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "dictionary": self.dictionary,
            "code": self.code,
            "term": self.term,
            "preferred_code": self.preferred_code,
            "preferred_term": self.preferred_term,
            "system_organ_class": self.system_organ_class,
        }


class Dictionary(Protocol):
    name: str

    def code(self, verbatim: str) -> CodedTerm | None: ...

    def search(self, text: str, limit: int = 10) -> list[CodedTerm]: ...


def normalize_term(text: str) -> str:
    """Lower case, single spaces, no punctuation: how terms are compared."""
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


class _IndexedDictionary:
    name: str

    def __init__(self, name: str, terms: Iterable[CodedTerm]):
        self.name = name
        self._terms = list(terms)
        self._by_name: dict[str, CodedTerm] = {}
        for t in self._terms:
            self._by_name.setdefault(normalize_term(t.term), t)

    def __len__(self) -> int:
        return len(self._terms)

    def code(self, verbatim: str) -> CodedTerm | None:
        """The term whose name matches the verbatim exactly (ignoring case and punctuation)."""
        return self._by_name.get(normalize_term(verbatim))

    def search(self, text: str, limit: int = 10) -> list[CodedTerm]:
        """Exact match first, then terms starting with the text, then terms containing every word."""
        needle = normalize_term(text)
        if not needle:
            return []
        words = needle.split()
        exact, prefix, contains = [], [], []
        for t in self._terms:
            name = normalize_term(t.term)
            if name == needle:
                exact.append(t)
            elif name.startswith(needle):
                prefix.append(t)
            elif all(w in name for w in words):
                contains.append(t)
        return (exact + sorted(prefix, key=lambda t: t.term) + sorted(contains, key=lambda t: t.term))[:limit]


class MeddraDictionary(_IndexedDictionary):
    """The sponsor's licensed MedDRA, read from the ASCII distribution files.

    ``llt.asc``: llt_code$llt_name$pt_code$…$llt_currency$… (only current LLTs, ``Y``, are used
    for coding); ``pt.asc``: pt_code$pt_name$null$pt_soc_code$…; ``soc.asc`` (optional):
    soc_code$soc_name$soc_abbrev$… — the record layouts of the MedDRA ASCII distribution.
    """

    @classmethod
    def from_directory(cls, directory: str | Path, version: str = "") -> MeddraDictionary:
        root = Path(directory)
        llt_file, pt_file = _find(root, "llt.asc"), _find(root, "pt.asc")
        soc_file = _find(root, "soc.asc", required=False)
        socs = {f[0]: f[1] for f in _records(soc_file, 2)} if soc_file else {}
        pts = {f[0]: (f[1], socs.get(f[3], "") if len(f) > 3 else "") for f in _records(pt_file, 2)}
        terms = []
        for f in _records(llt_file, 3):
            code, name, pt_code = f[0], f[1], f[2]
            currency = f[9] if len(f) > 9 else "Y"
            if currency and currency != "Y":
                continue
            if pt_code not in pts:
                raise ValueError(
                    f"{llt_file.name}: lowest-level term {code} names preferred term {pt_code}, not in pt.asc"
                )
            pt_name, soc = pts[pt_code]
            terms.append(CodedTerm(f"MedDRA {version}".strip(), code, name, pt_code, pt_name, soc))
        if not terms:
            raise ValueError(f"{llt_file} holds no current lowest-level term")
        return cls(f"MedDRA {version}".strip(), terms)


def _find(root: Path, name: str, *, required: bool = True) -> Path:
    for candidate in (root / name, root / name.upper(), root / "MedAscii" / name, root / "MedAscii" / name.upper()):
        if candidate.is_file():
            return candidate
    if required:
        raise FileNotFoundError(f"no {name} in {root} (the MedDRA ASCII distribution's MedAscii folder)")
    return None  # type: ignore[return-value]


def _records(path: Path, min_fields: int) -> list[list[str]]:
    out = []
    # MedDRA ASCII files are distributed in Latin-1 for the English release; accept UTF-8 too.
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\r\n").split("$")
        if len(fields) < min_fields or not fields[0].strip().isdigit():
            raise ValueError(f"{path.name} line {number}: not a MedDRA ASCII record: {line[:60]!r}")
        out.append([x.strip() for x in fields])
    return out


# The open default: common terms of early-phase cell-therapy and stroke trials, named as in CTCAE
# v5.0 (NCI, public domain), each its own preferred term, grouped by system organ class name.
_OPEN_TERMS: dict[str, tuple[str, ...]] = {
    "Blood and lymphatic system disorders": ("Anemia", "Febrile neutropenia"),
    "Cardiac disorders": ("Atrial fibrillation", "Sinus tachycardia", "Sinus bradycardia", "Myocardial infarction"),
    "Gastrointestinal disorders": ("Nausea", "Vomiting", "Diarrhea", "Constipation", "Abdominal pain"),
    "General disorders and administration site conditions": (
        "Fever",
        "Fatigue",
        "Chills",
        "Infusion related reaction",
        "Injection site reaction",
        "Edema limbs",
        "Death NOS",
    ),
    "Immune system disorders": ("Allergic reaction", "Anaphylaxis", "Cytokine release syndrome"),
    "Infections and infestations": ("Urinary tract infection", "Lung infection", "Sepsis", "Meningitis"),
    "Investigations": (
        "Alanine aminotransferase increased",
        "Aspartate aminotransferase increased",
        "Creatinine increased",
        "Platelet count decreased",
        "White blood cell decreased",
    ),
    "Musculoskeletal and connective tissue disorders": ("Back pain", "Arthralgia", "Myalgia"),
    "Nervous system disorders": (
        "Headache",
        "Seizure",
        "Stroke",
        "Intracranial hemorrhage",
        "Dizziness",
        "Somnolence",
        "Encephalopathy",
        "Transient ischemic attacks",
    ),
    "Psychiatric disorders": ("Depression", "Insomnia", "Agitation", "Confusion"),
    "Respiratory, thoracic and mediastinal disorders": ("Dyspnea", "Pulmonary edema", "Aspiration", "Hypoxia"),
    "Skin and subcutaneous tissue disorders": ("Rash maculo-papular", "Pruritus", "Urticaria"),
    "Vascular disorders": ("Hypertension", "Hypotension", "Thromboembolic event", "Hematoma"),
}


class OpenDictionary(_IndexedDictionary):
    """The small open list shipped with TrialKit (no licence needed)."""

    VERSION = "1"

    def __init__(self) -> None:
        terms = []
        for soc, names in _OPEN_TERMS.items():
            for name in names:
                slug = "open:" + normalize_term(name).replace(" ", "-")
                terms.append(CodedTerm(f"TrialKit open list {self.VERSION}", slug, name, slug, name, soc))
        super().__init__(f"TrialKit open list {self.VERSION}", terms)


def default_dictionary(meddra_directory: str | Path | None = None, version: str = "") -> Dictionary:
    """The sponsor's MedDRA when a directory is given (licensed), else the open list."""
    if meddra_directory:
        return MeddraDictionary.from_directory(meddra_directory, version)
    return OpenDictionary()
