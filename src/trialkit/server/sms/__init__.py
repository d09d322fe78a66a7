"""Text messages (SMS), modelled on Django's email backends (``django.core.mail``).

The backend is named by the setting ``TRIALKIT_SMS_BACKEND`` (a dotted path, like
``EMAIL_BACKEND``). TrialKit ships no real provider: ``console`` (the demo and development)
writes each message to standard output, ``locmem`` (the tests) keeps them in
``trialkit.server.sms.outbox``, ``dummy`` drops them. A provider is a class with
``send_messages(messages) -> int`` (see ``backends.base.BaseSmsBackend``), named in the setting.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULT_BACKEND = "trialkit.server.sms.backends.console.SmsBackend"

# The locmem backend's sent messages (as django.core.mail.outbox for email).
outbox: list[SmsMessage] = []


@dataclass
class SmsMessage:
    to: str  # an E.164 number, +8613800000000
    body: str

    def __post_init__(self) -> None:
        if not self.to or not self.body:
            raise ValueError("a text message needs a number and a body")


def get_connection(backend: str | None = None, *, fail_silently: bool = False, **kwargs):
    """A backend instance: ``backend`` or the setting ``TRIALKIT_SMS_BACKEND``."""
    path = backend or getattr(settings, "TRIALKIT_SMS_BACKEND", "") or DEFAULT_BACKEND
    return import_string(path)(fail_silently=fail_silently, **kwargs)


def send_sms(to: str, body: str, *, fail_silently: bool = False, connection=None) -> int:
    """Send one message; the number sent (0 or 1)."""
    connection = connection or get_connection(fail_silently=fail_silently)
    return connection.send_messages([SmsMessage(to=to, body=body)])
