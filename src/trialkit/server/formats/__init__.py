"""Date formats per language (settings.FORMAT_MODULE_PATH). English keeps TrialKit's "14 Mar 2026"
rather than Django's "March 14, 2026"; Simplified Chinese uses Django's own (2026年3月14日)."""
