"""CDISC exports built from a protocol and plain records (no database here).

- ``odm``: CDISC ODM 1.3.2 — the study metadata (visits, forms, items, code lists, range checks)
  generated from the protocol and its instruments, and the clinical data.
- ``sdtm``: SDTM domains DM, QS, AE, VS, DS as SAS XPORT v5 files (the FDA transport format).

Records carry an arm only when the caller is allowed to see it: the shell decides, by role.
"""

from trialkit.export.records import (
    ExportAdverseEvent,
    ExportData,
    ExportForm,
    ExportScreening,
    ExportSignature,
    ExportSubject,
)

__all__ = ["ExportAdverseEvent", "ExportData", "ExportForm", "ExportScreening", "ExportSignature", "ExportSubject"]
