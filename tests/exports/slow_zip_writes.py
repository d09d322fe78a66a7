"""Loaded by the job workers of the worker-kill test (TRIALKIT_JOB_KIND_MODULES): every member
written into a zip takes a while, so the test can kill a worker while an export's archive is
half written. It registers no kind; it only slows the real export down."""

import os
import time
import zipfile

_writestr = zipfile.ZipFile.writestr
DELAY = float(os.environ.get("SLOW_ZIP_SECONDS_PER_MEMBER", "0.3"))


def _slow_writestr(self, *args, **kwargs):
    time.sleep(DELAY)
    return _writestr(self, *args, **kwargs)


zipfile.ZipFile.writestr = _slow_writestr
