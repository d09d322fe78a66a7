"""The condition vocabulary of a protocol: the medical-history names a screening record may use.

A history exclusion (``{condition: {names: [epilepsy]}}``) only sees names it knows. A coordinator who
types "epilepsey" would otherwise record a condition no rule recognises, and the exclusion would pass
on data it never read. So a trial's facts name conditions from its vocabulary:

- every name an eligibility rule screens on, in rule order;
- the protocol's ``eligibility.medical_history.terms``: history the trial records without screening
  on it (hypertension, diabetes, ...);
- ``other`` with a ``description``: the coordinator affirms the condition is none of the listed.

An entered name is normalised first (:func:`normalize_name`), then the protocol's ``synonyms`` map it
to a listed name (``seizure_disorder: epilepsy``). Anything else is refused with close matches as
suggestions. Nothing here imports the protocol schema or the rule language: the vocabulary is built
from the protocol by ``trialkit.protocol.schema.Eligibility.condition_vocabulary``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

OTHER = "other"
# A rule value: the condition rule under ``condition``; combinators under these keys.
_NESTED = ("all_of", "any_of", "unless", "then")


@lru_cache(maxsize=4096)
def normalize_name(text: str) -> str:
    """A name as the rules write it: lower case, runs of spaces and hyphens as one underscore.

    Apostrophes are dropped ("Parkinson's disease" is ``parkinsons_disease``); any other character is
    kept, so that the name's own check can refuse it.
    """
    name = text.strip().lower().replace("'", "").replace("\u2019", "")
    name = re.sub(r"[\s\-_]+", "_", name)
    return name.strip("_")


def condition_names_in(rule: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every (location, name) a rule's ``condition`` parts name, the location relative to the rule."""
    if rule is None:
        return
    condition = getattr(rule, "condition", None)
    if condition is not None:
        for i, name in enumerate(condition.names):
            yield (*loc, "condition", "names", i), name
    for key in _NESTED:
        value = getattr(rule, key, None)
        if isinstance(value, list):
            for i, part in enumerate(value):
                yield from condition_names_in(part, (*loc, key, i))
        elif value is not None:
            yield from condition_names_in(value, (*loc, key))


@dataclass(frozen=True)
class ConditionVocabulary:
    """The names a trial's screening facts may give a condition, and how entered text maps to them."""

    screened: tuple[str, ...]  # names the eligibility rules screen on
    terms: tuple[str, ...] = ()  # recorded without screening on them
    synonyms: Mapping[str, str] = field(default_factory=dict)  # normalised synonym -> listed name
    owner: str = "the protocol"  # who declares it, for messages (an NCT id)

    @property
    def names(self) -> tuple[str, ...]:
        """Every listed name: those screened on first, then the other terms (``other`` not included)."""
        return self.screened + tuple(t for t in self.terms if t not in self.screened)

    def resolve(self, entered: str) -> str | None:
        """The listed name (or ``other``) that ``entered`` stands for; None when it is not recognised."""
        name = normalize_name(entered)
        if name == OTHER or name in self.names:
            return name
        return self.synonyms.get(name)

    def suggestions(self, entered: str, limit: int = 3) -> list[str]:
        """Listed names close to ``entered`` (difflib's ratio ≥ 0.6), a synonym standing for its name."""
        name = normalize_name(entered)
        candidates = {n: n for n in self.names} | dict(self.synonyms)
        close = difflib.get_close_matches(name, list(candidates), n=limit * 2, cutoff=0.6)
        out: list[str] = []
        for match in close:
            if candidates[match] not in out:
                out.append(candidates[match])
        return out[:limit]

    def problem(self, entered: str) -> str | None:
        """Why ``entered`` cannot be recorded as a condition of this trial; None when it can."""
        if self.resolve(entered) is not None:
            return None
        close = self.suggestions(entered)
        hint = (
            f"did you mean {' or '.join(close)}?"
            if close
            else f"no listed name is close (the list: {', '.join(self.names)})."
        )
        return (
            f"{entered!r} is not in the condition vocabulary of {self.owner}; {hint} "
            f"Enter a condition outside the list as {OTHER!r} with a description."
        )

    def problems(self, conditions: Any) -> list[tuple[str, str]]:
        """(field path, message) for each entry of a raw ``conditions`` list whose name is not recognised."""
        if not isinstance(conditions, list):
            return []
        found = []
        for i, entry in enumerate(conditions):
            name = entry.get("name") if isinstance(entry, dict) else getattr(entry, "name", None)
            if isinstance(name, str) and name.strip():
                message = self.problem(name)
                if message:
                    found.append((f"conditions.{i}.name", message))
        return found


def vocabulary_from(
    screened: Iterable[str],
    terms: Iterable[str] = (),
    synonyms: Mapping[str, str] | None = None,
    owner: str = "the protocol",
) -> ConditionVocabulary:
    """A vocabulary with duplicates removed, first occurrence kept."""
    return ConditionVocabulary(
        screened=tuple(dict.fromkeys(screened)),
        terms=tuple(dict.fromkeys(terms)),
        synonyms=dict(synonyms or {}),
        owner=owner,
    )
