from .selectors import account_balance_for_user


def balance(request):
    """Put the signed-in user's balance in every page's navigation.

    A callable, so the one query runs only when a template shows it.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_balance": lambda: account_balance_for_user(user_id=user.pk)}
