"""The ``trialkit`` command line. Each sub-command lives in its own module and calls the core."""
