"""Changing a password revokes the user's API tokens, whichever door changed it (the password
page, the admin site, `changepassword`, a service)."""
from django.conf import settings
from django.db.models.signals import post_save


def _password_changed(sender, instance, created, **kwargs):
    # set_password() leaves the raw password in _password until save() has run the validators;
    # a hash upgrade on login clears it first, so only a real change gets here.
    if not created and getattr(instance, "_password", None) is not None:
        from labelers.services.tokens import tokens_revoke_all

        tokens_revoke_all(user=instance)


def connect() -> None:
    post_save.connect(_password_changed, sender=settings.AUTH_USER_MODEL, dispatch_uid="labelers.password_changed")
