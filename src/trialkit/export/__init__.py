"""CDISC exports built from a protocol and plain records (no database here).

- ``odm``: CDISC ODM 1.3.2 — the study metadata (visits, forms, items, code lists, range checks)
  generated from the protocol and its instruments, and the clinical data.
- ``sdtm``: SDTM domains DM, QS, FT, RS, VS, AE, DS as SAS XPORT v5 files (the FDA transport format);
  ``sdtm_domains`` EX, LB (+SUPPLB), MH, CM, SV; ``trial_design`` TS, TA, TE, TV, TI;
  ``sdtm_metadata`` the SDTMIG 3.4 variable table; ``define_xml`` Define-XML 2.1;
  ``dataset_json`` Dataset-JSON v1.1; ``sdtm_package`` writes them together.
- ``stream``: the writers (``odm.write_odm``, ``sdtm_package.write_package_chunks``,
  ``fhir.write_bundle``) take the records a chunk at a time, so an export of any size holds one chunk.

Records carry an arm only when the caller is allowed to see it: the shell decides, by role.
"""

from trialkit.export.records import (
    ExportAdverseEvent,
    ExportData,
    ExportExposure,
    ExportForm,
    ExportLab,
    ExportScreening,
    ExportSignature,
    ExportSubject,
)

__all__ = [
    "ExportAdverseEvent",
    "ExportData",
    "ExportExposure",
    "ExportForm",
    "ExportLab",
    "ExportScreening",
    "ExportSignature",
    "ExportSubject",
]
