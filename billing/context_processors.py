from .selectors import account_balance_for_user, subscription_past_due_for_user


def balance(request):
    """Put the signed-in user's balance, and a failing renewal, in every page.

    A callable, so the one query runs only when a template shows it.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_balance": lambda: account_balance_for_user(user_id=user.pk),
        # (plan name, failing since) while a renewal is failing: every page says so.
        "nav_past_due": lambda: subscription_past_due_for_user(user_id=user.pk),
    }
