"""Writes each text message to standard output (the demo and development)."""

from __future__ import annotations

import sys
import threading

from trialkit.server.sms.backends.base import BaseSmsBackend


class SmsBackend(BaseSmsBackend):
    def __init__(self, *args, stream=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stream = stream or sys.stdout
        self._lock = threading.RLock()

    def send_messages(self, messages) -> int:
        sent = 0
        with self._lock:
            for message in messages:
                self.stream.write(f"SMS to {message.to}\n{message.body}\n{'-' * 79}\n")
                sent += 1
            self.stream.flush()
        return sent
