import os

os.environ.setdefault("TRIALKIT_FAST_HASHER", "1")
