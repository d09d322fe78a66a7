"""``trialkit analyze``: the mRS shift and ANCOVA analyses on a CSV file."""

from __future__ import annotations

import typer

from trialkit.cli.output import FORMAT_OPTION, Format, emit, fail, input_file

analyze_app = typer.Typer(
    help="Analyse trial outcomes from a CSV file (one row per participant).", no_args_is_help=True
)


# A CSV header longer than this is not a table of participants (a 30 MB file on one line, say): refused
# before pandas spends minutes splitting it into millions of columns.
MAX_HEADER_CHARS = 100_000


def _read_csv(path: str, fmt: Format | None = None):
    """The analysis table (one row per participant); every problem is one message naming --input."""
    import pandas as pd

    file = input_file(path, "--input")
    with file.open("rb") as handle:
        header = handle.readline(MAX_HEADER_CHARS + 1)
    if len(header) > MAX_HEADER_CHARS:
        fail(
            f"--input: {path}: the first line is longer than {MAX_HEADER_CHARS:,} characters; expected a CSV "
            "header (arm, the outcome, covariates) and one row per participant"
        )
    try:
        return pd.read_csv(file, dtype={"arm": str}, encoding="utf-8")
    except UnicodeDecodeError as exc:
        fail(f"--input: {path}: not UTF-8 text (byte {exc.start})")
    except pd.errors.EmptyDataError:
        fail(f"--input: {path}: the file is empty")
    except (ValueError, pd.errors.ParserError) as exc:  # pandas' parser errors
        fail(f"--input: {path}: not a readable CSV table ({str(exc).strip().splitlines()[0]})")


def _shift_text(r: dict) -> str:
    if r["common_odds_ratio"] is None:
        lines = [f"Common odds ratio: {r['note']}"]
    else:
        lines = [
            f"Common odds ratio (better mRS with treatment): {r['common_odds_ratio']:.3f}",
            f"95% CI: {r['ci95'][0]:.3f} to {r['ci95'][1]:.3f}",
            f"p-value (Wald): {r['p_value']:.4g}",
        ]
    lines.append(f"n: {r['n']} ({r['n_treatment']} treatment, {r['n_control']} control)")
    perm = r.get("permutation_test")
    if perm:
        lines.append(
            f"Permutation test ({perm['scheme']}, {perm['permutations']} re-draws): p={perm['p_value']:.4f} "
            f"(Monte Carlo SE {perm['mc_standard_error']:.4f})"
        )
    check = r.get("proportional_odds_check")
    if check:
        lines.append(
            f"Proportional odds check (LR vs saturated): chi2={check['statistic']:.2f}, "
            f"df={check['df']}, p={check['p_value']:.3g}"
        )
    return "\n".join(lines)


@analyze_app.command("mrs-shift")
def mrs_shift_command(
    input: str = typer.Option(..., "--input", help="CSV with columns arm and the outcome."),
    treatment: str = typer.Option(..., "--treatment", help="Value of 'arm' for the treatment arm."),
    control: str = typer.Option(..., "--control", help="Value of 'arm' for the control arm."),
    outcome: str = typer.Option("mrs", "--outcome", help="Ordinal outcome column (mRS 0-6)."),
    covariates: str = typer.Option("", "--covariates", help="Comma-separated covariate columns."),
    permutations: int = typer.Option(
        0, "--permutations", help="Also a permutation (re-randomization) test with this many re-draws."
    ),
    strata: str = typer.Option("", "--strata", help="Permute arm labels within these comma-separated columns."),
    seed: int = typer.Option(None, "--seed", help="Seed of the permutation test's re-draws."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Proportional odds shift analysis: common OR of a better (lower) mRS with treatment (>1 favours it)."""
    from trialkit.analysis import AnalysisInputError, mrs_shift
    from trialkit.analysis.permutation import shift_permutation_test

    data = _read_csv(input, fmt)
    names = [c.strip() for c in covariates.split(",") if c.strip()]
    strata_names = [c.strip() for c in strata.split(",") if c.strip()]
    if permutations < 0:
        fail("--permutations: must be 0 (no permutation test) or more", fmt=fmt)
    if strata_names and not permutations:
        fail("--strata: only used by the permutation test; give --permutations too", fmt=fmt)
    try:
        result = mrs_shift(data, treatment, control, outcome, names)
        out = result.to_dict()
        if permutations:
            out["permutation_test"] = shift_permutation_test(
                data, treatment, control, outcome, names, permutations, seed, strata_names
            ).to_dict()
    except AnalysisInputError as exc:
        fail(str(exc), fmt=fmt)
    emit(out, fmt, _shift_text)


@analyze_app.command("ancova")
def ancova_command(
    input: str = typer.Option(..., "--input", help="CSV with columns arm, outcome and baseline."),
    outcome: str = typer.Option(..., "--outcome", help="Follow-up value column."),
    baseline: str = typer.Option(..., "--baseline", help="Baseline value column."),
    treatment: str = typer.Option(..., "--treatment"),
    control: str = typer.Option(..., "--control"),
    covariates: str = typer.Option("", "--covariates", help="Comma-separated extra covariate columns."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """ANCOVA of change from baseline adjusted for baseline: treatment minus control difference."""
    from trialkit.analysis import AnalysisInputError, ancova

    data = _read_csv(input, fmt)
    names = [c.strip() for c in covariates.split(",") if c.strip()]
    try:
        result = ancova(data, outcome, baseline, treatment, control, names)
    except AnalysisInputError as exc:
        fail(str(exc), fmt=fmt)
    emit(
        result.to_dict(),
        fmt,
        lambda r: (
            f"Adjusted difference in change: {r['difference']:.3f}\n"
            f"95% CI: {r['ci95'][0]:.3f} to {r['ci95'][1]:.3f}\np-value: {r['p_value']:.4g}\nn: {r['n']}"
        ),
    )


def _numbers(option: str, text: str, fmt: Format) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        fail(f"{option}: {text!r} is not a comma-separated list of numbers", fmt=fmt)


def _boundaries_text(r: dict) -> str:
    sided = "two-sided" if r["sides"] == 2 else "one-sided"
    lines = [
        f"{r['spending_label']} spending, {sided} alpha {r['alpha']:g} ({r['method']})",
        "",
        "look  information  boundary |Z|  nominal p   alpha spent  observed Z",
    ]
    for look in r["looks"]:
        observed = look.get("observed_z")
        shown = "" if observed is None else f"{observed:.3f}" + ("  crossed" if look.get("crossed") else "")
        bound = "none" if look["z"] is None else f"{look['z']:.3f}"
        lines.append(
            f"{look['look']:>4}  {look['information_fraction']:>11.3f}  {bound:>12}  "
            f"{look['nominal_p']:>9.3g}  {look['alpha_spent']:>11.3g}  {shown}".rstrip()
        )
    if r.get("crossed_at"):
        lines += ["", f"The observed statistic reached the boundary at look {r['crossed_at']}."]
    return "\n".join(lines)


@analyze_app.command("boundaries")
def boundaries_command(
    protocol: str = typer.Option(
        "",
        "--protocol",
        help="NCT id or protocol file: take the looks, spending and alpha from its analysis_plan.interim.",
    ),
    looks: str = typer.Option("", "--looks", help="Information fractions of the looks, e.g. 0.2,0.4,0.6,0.8,1."),
    spending: str = typer.Option("obrien_fleming", "--spending", help="obrien_fleming or pocock (Lan–DeMets)."),
    alpha: float = typer.Option(0.05, "--alpha", help="Overall type I error (two-sided unless --sides 1)."),
    sides: int = typer.Option(2, "--sides", help="2 (symmetric) or 1."),
    observed: str = typer.Option("", "--observed", help="Observed Z at the looks done so far, e.g. 1.2,2.9."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Group-sequential boundaries by alpha spending at the looks, with the observed statistics."""
    from trialkit.analysis.group_sequential import GroupSequentialError, boundaries, monitor

    if protocol:
        from trialkit.protocol import ProtocolError, load_protocol

        try:
            plan = load_protocol(protocol).analysis_plan
        except ProtocolError as exc:
            fail(f"--protocol: {exc}", fmt=fmt)
        if plan.interim is None:
            fail(f"--protocol: {protocol} declares no interim looks (analysis_plan.interim)", fmt=fmt)
        fractions, spending, alpha, sides = (
            plan.interim.information_fractions,
            plan.interim.spending,
            plan.alpha,
            plan.interim.sides,
        )
    else:
        fractions = _numbers("--looks", looks, fmt)
        if not fractions:
            fail("--looks: give the information fractions of the looks (or --protocol)", fmt=fmt)
    try:
        result = monitor(boundaries(fractions, spending, alpha, sides), _numbers("--observed", observed, fmt))
    except GroupSequentialError as exc:
        fail(str(exc), fmt=fmt)
    emit(result.as_dict(), fmt, _boundaries_text)


def register(app: typer.Typer) -> None:
    app.add_typer(analyze_app, name="analyze")
