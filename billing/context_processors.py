from functools import cache

from .selectors import account_nav_for_user


def balance(request):
    """Put the signed-in user's balance, and a failing renewal, in every page.

    Callables sharing one query, which runs only when a template shows either.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    nav = cache(lambda: account_nav_for_user(user_id=user.pk) or (None, None))
    return {
        "nav_balance": lambda: nav()[0],
        # The plan's name while its renewal is failing: the banner says so on every page.
        "nav_past_due": lambda: nav()[1],
    }
