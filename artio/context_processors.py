from django.conf import settings


def site(request):
    """Expose the sandbox flags every page shows as banners."""
    return {
        "KIE_SANDBOX": settings.KIE_SANDBOX,
        "STRIPE_SANDBOX": settings.STRIPE_SANDBOX,
    }
