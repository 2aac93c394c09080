"""The one place allauth tells billing about people: each signal calls one service."""

from allauth.account.signals import email_confirmed, user_signed_up
from django.dispatch import receiver

from . import services


@receiver(user_signed_up, dispatch_uid="billing_account_open")
def _account_open(sender, request, user, **kwargs):
    services.account_for_user(user=user)


@receiver(email_confirmed, dispatch_uid="billing_signup_bonus")
def _signup_bonus(sender, request, email_address, **kwargs):
    services.signup_bonus_grant(user=email_address.user)
