"""Load and validate protocol files; every error names the file, the line, the path and the rule."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from trialkit.protocol.schema import NCT_PATTERN, LocatedError, Protocol


@dataclass(frozen=True)
class ProtocolIssue:
    file: str
    path: str  # e.g. "arms[1].dose.levels[0].amount"
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '(top level)'}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "path": self.path, "line": self.line, "message": self.message}


class ProtocolError(Exception):
    """A protocol file that cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ProtocolIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def default_protocol_dir() -> Path:
    """``$TRIALKIT_PROTOCOL_DIR``, else ``./protocols``, else the repository's ``protocols/``."""
    env = os.environ.get("TRIALKIT_PROTOCOL_DIR")
    if env:
        return Path(env)
    here = Path.cwd() / "protocols"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[3] / "protocols"


def protocol_files(directory: Path | None = None) -> list[Path]:
    directory = directory or default_protocol_dir()
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in {".yaml", ".yml"})


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map each path in the YAML document to its 1-based line, for error messages."""
    index: dict[tuple[Any, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return index

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                index[(*path, key.value)] = key.start_mark.line + 1
                walk(value, (*path, key.value))
                index[(*path, key.value)] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                walk(value, (*path, i))

    if root is not None:
        walk(root, ())
    return index


def _nearest_line(index: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    loc = tuple(part for part in loc if not (isinstance(part, str) and part.startswith("function-")))
    while True:
        if loc in index:
            return index[loc]
        if not loc:
            return None
        loc = loc[:-1]


# A protocol file is tens of kilobytes (the seed protocols are 15-17 kB); a file far larger is not one,
# and the pure-Python YAML parser would take minutes on it.
MAX_PROTOCOL_BYTES = 1_000_000


def _load_yaml(text: str) -> Any:
    """``yaml.safe_load``, by libyaml when PyYAML has it (ten times faster); a document libyaml refuses
    is read again by the pure-Python parser, so a problem is reported in the same words either way."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is not None:
        try:
            return yaml.load(text, Loader=loader)  # CSafeLoader: the safe loader, in C
        except (yaml.YAMLError, RecursionError):
            pass
    return yaml.safe_load(text)


def parse_protocol(text: str, source: str = "<protocol>") -> Protocol:
    """Validate protocol YAML text; raise ProtocolError listing every problem."""
    if len(text) > MAX_PROTOCOL_BYTES:
        raise ProtocolError(
            [
                ProtocolIssue(
                    source,
                    "",
                    None,
                    f"the file has {len(text):,} characters; a protocol file has at most {MAX_PROTOCOL_BYTES:,}",
                )
            ]
        )
    try:
        data = _load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        shown = " ".join(str(exc).split())  # one line: an issue is printed as file:line: path: message
        raise ProtocolError([ProtocolIssue(source, "", line, f"not valid YAML: {shown}")]) from exc
    except RecursionError:
        raise ProtocolError([ProtocolIssue(source, "", None, "not valid YAML: nested too deeply")]) from None
    if not isinstance(data, dict):
        raise ProtocolError([ProtocolIssue(source, "", 1, "a protocol file must be a YAML mapping")])
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as exc:
        index = _line_index(text)
        issues = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            cause = (err.get("ctx") or {}).get("error")
            if isinstance(cause, LocatedError):
                loc += cause.loc
            message = err["msg"]
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            if err["type"] not in {"missing", "value_error", "assertion_error"} and "input" in err:
                shown = repr(err["input"])
                if len(shown) <= 60:
                    message = f"{message} (got {shown})"
            issues.append(ProtocolIssue(source, format_loc(loc), _nearest_line(index, loc), message))
        raise ProtocolError(issues) from exc
    unknown = _unknown_forms(protocol)
    if unknown:
        index = _line_index(text)
        raise ProtocolError(
            [ProtocolIssue(source, format_loc(loc), _nearest_line(index, loc), message) for loc, message in unknown]
        )
    return protocol


def _unknown_forms(protocol: Protocol) -> list[tuple[tuple[str | int, ...], str]]:
    """Every form a visit or endpoint names must be an instrument TrialKit knows."""
    from trialkit.instruments import list_instruments

    known = {i.name for i in list_instruments()}
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for v, visit in enumerate(protocol.schedule.visits):
        for f, form in enumerate(visit.forms):
            if form not in known:
                problems.append(
                    (
                        ("schedule", "visits", v, "forms", f),
                        f"unknown form {form!r}; known instruments: {', '.join(sorted(known))}",
                    )
                )
    for e, endpoint in enumerate(protocol.endpoints):
        if endpoint.instrument and endpoint.instrument not in known:
            problems.append((("endpoints", e, "instrument"), f"unknown instrument {endpoint.instrument!r}"))
    return problems


def load_protocol_file(path: str | Path) -> Protocol:
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_PROTOCOL_BYTES:
            raise ProtocolError(
                [
                    ProtocolIssue(
                        str(path),
                        "",
                        None,
                        f"the file has {path.stat().st_size:,} bytes; "
                        f"a protocol file has at most {MAX_PROTOCOL_BYTES:,}",
                    )
                ]
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProtocolError([ProtocolIssue(str(path), "", None, f"cannot read file: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            [
                ProtocolIssue(
                    str(path), "", None, f"not UTF-8 text (byte {exc.start}: {exc.object[exc.start : exc.start + 1]!r})"
                )
            ]
        ) from None
    protocol = parse_protocol(text, str(path))
    stem = path.stem
    if NCT_PATTERN.match(stem) and stem != protocol.id:
        raise ProtocolError(
            [
                ProtocolIssue(
                    str(path),
                    "registry.nct_id",
                    _nearest_line(_line_index(text), ("registry", "nct_id")),
                    f"file is named {stem} but registry.nct_id is {protocol.id}",
                )
            ]
        )
    return protocol


_cache: dict[tuple[str, float], Protocol] = {}


def _acronym_of(path: Path) -> str | None:
    """The registry acronym of a protocol file, read without validating the whole file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    registry = data.get("registry") if isinstance(data, dict) else None
    acronym = registry.get("acronym") if isinstance(registry, dict) else None
    return acronym if isinstance(acronym, str) else None


def resolve_protocol_path(ref: str | Path, directory: Path | None = None) -> Path:
    """The file a protocol reference names: an NCT id in any case, a trial's acronym in any case
    (e.g. ``assist``, ``IXCELL``) from the protocol directory, or a path to a protocol file.

    ProtocolError names the reference and the trials known when it names none of them.
    """
    ref_str = str(ref).strip()
    directory = directory or default_protocol_dir()
    if NCT_PATTERN.match(ref_str.upper()):
        path = directory / f"{ref_str.upper()}.yaml"
        if path.exists():
            return path
    else:
        path = Path(ref_str)
        if path.exists() or any(sep in ref_str for sep in ("/", "\\")) or path.suffix in {".yaml", ".yml"}:
            return path
        for candidate in protocol_files(directory):
            if (_acronym_of(candidate) or "").casefold() == ref_str.casefold():
                return candidate
    known = (
        ", ".join(f"{p.stem} ({acronym})" if (acronym := _acronym_of(p)) else p.stem for p in protocol_files(directory))
        or "none"
    )
    raise ProtocolError(
        [
            ProtocolIssue(
                str(directory),
                "",
                None,
                f"no protocol {ref_str} (give an NCT id, a trial acronym or a protocol file); known: {known}",
            )
        ]
    )


def load_protocol(ref: str | Path, directory: Path | None = None) -> Protocol:
    """Load a protocol by NCT id or acronym (any case, from the protocol directory) or by path."""
    path = resolve_protocol_path(ref, directory)
    key = (str(path.resolve()), path.stat().st_mtime if path.exists() else 0.0)
    if key not in _cache:
        _cache[key] = load_protocol_file(path)
    return _cache[key]


def load_all(directory: Path | None = None) -> list[Protocol]:
    return [load_protocol(p) for p in protocol_files(directory)]


def validate_files(paths: list[Path]) -> dict[str, list[ProtocolIssue]]:
    """Validate each file; map its path to the issues found (empty list: valid)."""
    results: dict[str, list[ProtocolIssue]] = {}
    for path in paths:
        try:
            load_protocol_file(path)
            results[str(path)] = []
        except ProtocolError as exc:
            results[str(path)] = exc.issues
    return results
