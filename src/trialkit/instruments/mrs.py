"""modified Rankin Scale (mRS): one grade, 0 (no symptoms) to 6 (dead).

Source: van Swieten JC et al. Interobserver agreement for the assessment of handicap in stroke
patients. Stroke 1988;19:604-607 (grades 0-5; grade 6, death, is the usual addition for outcome
trials). Level descriptions are those of van Swieten 1988.

CDISC: SDTM Controlled Terminology defines the mRS as a clinical classification (SDTMIG RS
domain): codelist MRS01TC (C111348, "Modified Rankin Scale Clinical Classification Test Code") has
one term, MRS0101, test name "MRS01-Modified Rankin Scale Score" (C111520), read from a 2026
extract of the NCI EVS SDTM Terminology file. The grade carries exactly that code and name, and
the SDTM export writes it to RS. The category value ("MODIFIED RANKIN SCALE") is TrialKit's own:
the CT category term was not in the extract read.
"""

from __future__ import annotations

from trialkit.instruments.framework import Instrument, Item, ItemType, levels

SOURCE = "van Swieten et al., Stroke 1988;19:604-607"

LEVELS = levels(
    "No symptoms at all",
    "No significant disability despite symptoms; able to carry out all usual duties and activities",
    "Slight disability; unable to carry out all previous activities, but able to look after own "
    "affairs without assistance",
    "Moderate disability; requiring some help, but able to walk without assistance",
    "Moderately severe disability; unable to walk without assistance and unable to attend to own "
    "bodily needs without assistance",
    "Severe disability; bedridden, incontinent and requiring constant nursing care and attention",
    "Dead",
)

MRS = Instrument(
    name="mrs",
    outcome=True,
    better="lower",
    title="modified Rankin Scale",
    version="1988-1.0",
    items=(
        Item(
            key="score",
            label="modified Rankin Scale grade",
            type=ItemType.integer,
            choices=LEVELS,
            scored=True,
            source=SOURCE,
            qs_testcd="MRS0101",  # CDISC CT MRS01TC term C111520
            qs_test="MRS01-Modified Rankin Scale Score",
            qs_cat="MODIFIED RANKIN SCALE",
        ),
    ),
    total_range=(0, 6),
    source=SOURCE,
    description="Global disability after stroke; 0 no symptoms, 6 dead.",
    qs_cat="MODIFIED RANKIN SCALE",
    sdtm_domain="RS",  # CDISC CT: MRS01TC is a clinical classification codelist
)
