from django.conf import settings


def site(request):
    """Expose the sandbox flags every page shows as banners, and the public URL e-mails link to."""
    return {
        "PUBLIC_URL": settings.ARTIO_PUBLIC_URL,
        "KIE_SANDBOX": settings.KIE_SANDBOX,
        "STRIPE_SANDBOX": settings.STRIPE_SANDBOX,
    }
