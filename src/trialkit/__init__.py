"""TrialKit: randomized, blinded, placebo-controlled clinical trials from a protocol file.

The packages directly under ``trialkit`` (``protocol``, ``instruments``, ``eligibility``,
``randomization``, ``dosing``, ``analysis``, ``simulation``) form the pure core: they never import
Django. ``trialkit.server`` is the Django shell that persists, authorizes and presents, and
``trialkit.cli`` is the one command-line interface.
"""

__version__ = "0.1.0"
