from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from trialkit.server.accounts.models import Membership
from trialkit.server.audit.service import record_event


@receiver(user_logged_in)
def _audit_login(sender, request, user, **kwargs):
    record_event(
        actor=user, action="login", object_type="user", object_id=str(user.pk), after={"username": user.username}
    )


@receiver(user_login_failed)
def _audit_login_failed(sender, credentials, request=None, **kwargs):
    """A failed login against an existing account is an audit event, up to and including the one
    that locks the account at that address; attempts refused while locked, and attempts on names
    that are no account (which anyone can send in any number), are only counted by django-axes,
    so that strangers can neither flood the trail nor break it with what they type."""
    from django.contrib.auth import get_user_model

    from trialkit.server.accounts.authn import plausible_username

    if credentials.get("reauth"):
        return  # a failed re-authentication: audited by accounts.authn.reauthenticate
    username = credentials.get("username")
    if not plausible_username(username):
        return
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        return
    locked = bool(getattr(request, "axes_locked_out", False))
    failures = getattr(request, "axes_failures_since_start", None)
    if locked and failures is None:
        return  # refused while locked out: counted, not recorded again
    record_event(
        actor=None,
        action="login_failed",
        object_type="user",
        object_id=str(user.pk),
        after={"username": user.username, "failures": failures, "locked_out": locked},
    )


@receiver(post_save, sender=Membership)
def _audit_membership(sender, instance, created, **kwargs):
    record_event(
        actor=None,
        action="permission_grant" if created else "permission_change",
        object_type="membership",
        object_id=str(instance.pk),
        trial_id=instance.trial_id,
        after={
            "user": instance.user.username,
            "role": instance.role,
            "site": instance.site.code if instance.site_id else None,
        },
    )


@receiver(post_delete, sender=Membership)
def _audit_membership_delete(sender, instance, **kwargs):
    record_event(
        actor=None,
        action="permission_revoke",
        object_type="membership",
        object_id=str(instance.pk),
        trial_id=instance.trial_id,
        before={
            "user": instance.user.username,
            "role": instance.role,
            "site": instance.site.code if instance.site_id else None,
        },
    )
