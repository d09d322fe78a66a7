from __future__ import annotations

from collections.abc import Sequence


class BaseSmsBackend:
    """The interface of a text-message backend (as ``django.core.mail.backends.base.BaseEmailBackend``).

    ``send_messages`` sends what it can and returns how many were sent; unless ``fail_silently``,
    a failure raises.
    """

    def __init__(self, fail_silently: bool = False, **kwargs) -> None:
        self.fail_silently = fail_silently

    def send_messages(self, messages: Sequence) -> int:
        raise NotImplementedError("a text-message backend must implement send_messages()")
