"""Keeps sent text messages in ``trialkit.server.sms.outbox`` (the tests)."""

from __future__ import annotations

import copy

from trialkit.server import sms
from trialkit.server.sms.backends.base import BaseSmsBackend


class SmsBackend(BaseSmsBackend):
    def send_messages(self, messages) -> int:
        for message in messages:
            sms.outbox.append(copy.copy(message))
        return len(messages)
