"""Loaded by pytest before Django reads its settings (see addopts): the test environment."""

import os

os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ["ARTIO_TESTING"] = "1"
os.environ["ARTIO_WEBHOOK_ALLOW_PRIVATE"] = "1"
# Tests never reach the real KIE or Stripe: the sandboxes stand in, over real HTTP.
for name in ("KIE_API_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "REDIS_URL", "ARTIO_SANDBOX"):
    os.environ.pop(name, None)
os.environ["STRIPE_WEBHOOK_SECRET"] = "whsec_test_secret"
