"""Artio settings: one configuration, read from the environment, secure by default.

With DJANGO_DEBUG unset or 0 the app runs as in production. `make run` and the tests set
DJANGO_DEBUG=1 for themselves. Every variable is listed in .env.example.
"""

import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name, default=""):
    return os.environ.get(name, default).strip()


def env_bool(name, default=False):
    raw = env_str(name)
    if not raw:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be 0 or 1, not {raw!r}")


def env_int(name, default):
    raw = env_str(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None


def env_list(name, default=()):
    raw = env_str(name)
    return [item.strip() for item in raw.split(",") if item.strip()] if raw else list(default)


# --- Core -------------------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG")
TESTING = env_bool("ARTIO_TESTING")

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_DEBUG is not 1.")
    SECRET_KEY = "django-insecure-development-only-key-never-used-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])

# Where `make run` serves; callbacks and Stripe redirects follow it unless ARTIO_PUBLIC_URL says otherwise.
PORT = env_int("PORT", 8000)
ARTIO_PUBLIC_URL = env_str("ARTIO_PUBLIC_URL", f"http://127.0.0.1:{PORT}").rstrip("/")
CSRF_TRUSTED_ORIGINS = [
    "{0.scheme}://{0.netloc}".format(urlsplit(ARTIO_PUBLIC_URL)),
    *env_list("DJANGO_CSRF_TRUSTED_ORIGINS"),
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "artio",
    "catalog",
    "billing",
    "generation",
    "ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "artio.urls"
WSGI_APPLICATION = "artio.wsgi.application"
AUTH_USER_MODEL = "artio.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "artio.context_processors.site",
                "billing.context_processors.balance",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
# qcluster forks its workers after opening connections; a pool inherited across fork() shares
# sockets between processes, so the worker uses plain per-process connections instead.
_forking_worker = sys.argv[1:2] == ["qcluster"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not _forking_worker:
    # Django's psycopg 3 pool; CONN_MAX_AGE must stay 0 with it.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("DATABASE_POOL_MAX", 20),
        "timeout": 30,
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    (BASE_DIR / "var").mkdir(exist_ok=True)
    # SQLite has one writer at a time. WAL lets readers go on while it writes; IMMEDIATE takes the
    # write lock when a transaction begins (a deferred one that upgrades later fails with "database
    # is locked" at once, without waiting); the busy timeout makes the other web threads, processes
    # and the worker queue for it instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;",
    }
    if TESTING:
        # Tests use a file, not SQLite's shared in-memory database: with that, Django's live server
        # hands the test's one connection to all its threads, and a page's polls, KIE callbacks and
        # tasks running at once misuse it (InterfaceError). The pid keeps two runs apart.
        test_db = Path(tempfile.gettempdir()) / f"artio-test-{os.getpid()}.sqlite3"
        DATABASES["default"]["TEST"] = {"NAME": str(test_db)}

# --- Cache and queue --------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # Every web process must see the same counters (API rate limits, sign-in limits), so the
    # embedded default is a table in the database (artio migration 0005 creates it), not each
    # process's memory. MAX_ENTRIES is far above the default 300, past which Django culls rows and
    # so would forget live counters.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "artio_cache",
            "OPTIONS": {"MAX_ENTRIES": 20_000},
        }
    }

# A task may run at most `timeout` seconds and is re-delivered only after `retry`, so a task
# still running is never handed to a second worker; `max_attempts` bounds retries.
Q_CLUSTER = {
    "name": "artio",
    "workers": env_int("ARTIO_Q_WORKERS", 2),
    "timeout": 60,
    "retry": 120,
    "max_attempts": 5,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": 0.5,
    "label": "Task queue",
    # The createTask dispatcher runs alone on a cluster of its own (`Q_CLUSTER_NAME=dispatch
    # manage.py qcluster`), so pacing KIE's rate never holds up the callbacks, polling, downloads
    # and webhooks of the default cluster. One worker: only one loop may hold the lease anyway.
    # Its budget (generation/tasks.py, 100 s + one createTask) stays under this timeout.
    "ALT_CLUSTERS": {"dispatch": {"workers": 1, "timeout": 150, "retry": 180}},
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Auth (django-allauth) ---------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_RATE_LIMITS = {"login_failed": "5/5m/ip,5/5m/key"}
# Subjects are written whole in templates/account/email/*_subject.txt (no "[site] " prefix).
ACCOUNT_EMAIL_SUBJECT_PREFIX = ""
LOGIN_REDIRECT_URL = "/generate/"
LOGIN_URL = "/accounts/login/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

if TESTING:
    # Tests create hundreds of users; a slow hasher is only a cost there, never a protection.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- E-mail -----------------------------------------------------------------------------------
if env_str("EMAIL_HOST") or not DEBUG:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env_str("EMAIL_HOST", "localhost"),
                "port": env_int("EMAIL_PORT", 25),
                "username": env_str("EMAIL_HOST_USER"),
                "password": env_str("EMAIL_HOST_PASSWORD"),
                "use_tls": env_bool("EMAIL_USE_TLS"),
            },
        }
    }
else:
    # Development: verification links and password resets are printed on the console.
    MAILERS = {"default": {"BACKEND": "artio.mail.ReadableConsoleBackend"}}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Artio <no-reply@artio.local>")

# --- Static and media -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# In development WhiteNoise serves from the finders, but still expects the folder to exist.
WHITENOISE_USE_FINDERS = DEBUG
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("ARTIO_MEDIA_ROOT") or BASE_DIR / "var" / "media")
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL") or None  # S3-compatible stores
AWS_DEFAULT_ACL = None  # private objects, served through signed URLs
# Signature version 4 for those URLs: botocore otherwise presigns with the legacy version 2 for some
# endpoints, which AWS regions opened since 2014 refuse and which AWS is retiring everywhere.
AWS_S3_SIGNATURE_VERSION = env_str("AWS_S3_SIGNATURE_VERSION", "s3v4")
STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage"
        if AWS_STORAGE_BUCKET_NAME
        else "django.core.files.storage.FileSystemStorage"
    },
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Result images larger than this are refused rather than stored.
ARTIO_MAX_IMAGE_BYTES = env_int("ARTIO_MAX_IMAGE_BYTES", 30 * 1024 * 1024)
# Web uploads for image inputs (KIE takes up to 10 MB for most models).
ARTIO_MAX_UPLOAD_BYTES = env_int("ARTIO_MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
ARTIO_TRASH_DAYS = env_int("ARTIO_TRASH_DAYS", 7)  # deleted generations' images are purged after this
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024

# --- Internationalisation ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["artio.api_parsers.ApiJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["artio.api_auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "EXCEPTION_HANDLER": "artio.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Artio partner API",
    "DESCRIPTION": (
        "Generate images with KIE's models, billed from your Artio credit balance.\n\n"
        "v1 stays compatible, but value sets grow: a model family, kind, plan, price unit, status, "
        "ledger kind, webhook type or error code may gain values at any time. Each is a string with "
        "its known values listed; treat one you do not know as 'other'. Versioning and deprecation "
        "policy: docs/api.md."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # No serializer is both a request and a response, so no split: the body is "GenerationRequest".
    "COMPONENT_SPLIT_REQUEST": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Paths carry /api/v1 themselves, so the server is the site's origin.
    "SERVERS": [{"url": ARTIO_PUBLIC_URL, "description": "This Artio site"}],
    # One named type per value set, wherever it appears (a field, a query parameter, a quote).
    # artio/api_schema.py then turns each into an open string: the catalogue and the product grow.
    "ENUM_NAME_OVERRIDES": {
        "Family": "catalog.models.Family",
        "ModelKind": "catalog.models.Kind",
        "Plan": "catalog.models.Plan",
        "PriceUnit": "catalog.models.PriceUnit",
        "GenerationStatus": "generation.models.Status",
        "LedgerKind": "billing.models.LedgerKind",
        "SubscriptionStatus": "billing.models.SubscriptionStatus",
        "WebhookEventType": "generation.serializers.WEBHOOK_EVENT_TYPES",
    },
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "artio.api_schema.open_value_sets",
        "artio.api_schema.headers",
    ],
    # Serve Swagger UI from our own static files, not a CDN (works offline and under a strict CSP).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- KIE --------------------------------------------------------------------------------------
KIE_API_KEY = env_str("KIE_API_KEY")
KIE_SANDBOX_PORT = env_int("KIE_SANDBOX_PORT", 8001)
# Sandboxes hand out "payments" and images for free: on in development, off in production unless a
# public demo opts in with ARTIO_SANDBOX=1 (the banner still says so, and check --deploy warns).
ARTIO_SANDBOX = env_bool("ARTIO_SANDBOX", DEBUG)
KIE_SANDBOX = ARTIO_SANDBOX and not KIE_API_KEY
_kie_default_base = f"http://127.0.0.1:{KIE_SANDBOX_PORT}" if KIE_SANDBOX else "https://api.kie.ai"
KIE_API_BASE = env_str("KIE_API_BASE", _kie_default_base).rstrip("/")
_kie_default_upload = KIE_API_BASE if KIE_SANDBOX else "https://kieai.redpandaai.co"
KIE_UPLOAD_BASE = env_str("KIE_UPLOAD_BASE", _kie_default_upload).rstrip("/")
KIE_WEBHOOK_HMAC_KEY = env_str("KIE_WEBHOOK_HMAC_KEY")
KIE_CREATE_RATE = env_str("KIE_CREATE_RATE", "20/10s")
# A generation still unfinished this long after submission is failed and refunded.
KIE_DEADLINE_SECONDS = env_int("KIE_DEADLINE_SECONDS", 15 * 60)

# --- Stripe -----------------------------------------------------------------------------------
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com").rstrip("/")
STRIPE_SANDBOX = ARTIO_SANDBOX and not STRIPE_SECRET_KEY
# The recurring monthly Price of the seeded Premium plan (staff may set another per plan in the admin).
STRIPE_PREMIUM_PRICE = env_str("STRIPE_PREMIUM_PRICE")
# How long a subscription whose renewal failed keeps its plan while Stripe retries the card.
ARTIO_PAST_DUE_GRACE_DAYS = env_int("ARTIO_PAST_DUE_GRACE_DAYS", 3)
if ARTIO_PAST_DUE_GRACE_DAYS < 0:
    raise ImproperlyConfigured("ARTIO_PAST_DUE_GRACE_DAYS must be 0 or more.")
if STRIPE_SECRET_KEY.startswith("sk_live_") and KIE_SANDBOX:
    raise ImproperlyConfigured("A sandbox cannot run beside a live Stripe key: set KIE_API_KEY.")
_missing_keys = [
    name
    for name, value in [
        ("KIE_API_KEY", KIE_API_KEY),
        ("STRIPE_SECRET_KEY", STRIPE_SECRET_KEY),
        ("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET),
    ]
    if not value
]
if not ARTIO_SANDBOX and _missing_keys:
    raise ImproperlyConfigured(
        f"No sandbox runs in production (or with ARTIO_SANDBOX=0), so Artio needs the real keys: "
        f"set {', '.join(_missing_keys)}, or ARTIO_SANDBOX=1 to run the simulators in their place "
        f"(a public demo)."
    )
if STRIPE_SANDBOX and not STRIPE_WEBHOOK_SECRET:
    # The sandbox checkout signs its events with this; derived so it is stable across restarts.
    STRIPE_WEBHOOK_SECRET = "whsec_sandbox_" + SECRET_KEY[-24:]

# --- Partner webhooks -------------------------------------------------------------------------
ARTIO_WEBHOOK_ALLOW_PRIVATE = env_bool("ARTIO_WEBHOOK_ALLOW_PRIVATE")

# --- Security (production unless DEBUG) -------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# How many proxies in front append to X-Forwarded-For (1 behind the TLS proxy of docs/deploy.md).
# With 0 the header is ignored, as a client could forge it; too low a count and every client
# shares the proxy's address, so one person's wrong passwords lock everyone out.
ARTIO_TRUSTED_PROXIES = env_int("ARTIO_TRUSTED_PROXIES", 0)
if ARTIO_TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured(f"ARTIO_TRUSTED_PROXIES must be 0 or more, not {ARTIO_TRUSTED_PROXIES}")
ALLAUTH_TRUSTED_PROXY_COUNT = ARTIO_TRUSTED_PROXIES  # allauth's login and sign-up rate limits
REST_FRAMEWORK["NUM_PROXIES"] = ARTIO_TRUSTED_PROXIES  # DRF's throttles (None would trust any header)

# --- Content-Security-Policy ------------------------------------------------------------------
# The same policy in development, so a violation shows up before it reaches production. Nothing
# inline: scripts and styles are files under static/, behaviour is wired by data- attributes.


def _media_origins():
    """Return the origins result images are served from when they live in S3."""
    if not AWS_STORAGE_BUCKET_NAME:
        return []
    if AWS_S3_ENDPOINT_URL:
        endpoint = urlsplit(AWS_S3_ENDPOINT_URL)
        # boto3 signs path-style URLs for a custom endpoint; virtual-hosted ones are listed too.
        return [
            f"{endpoint.scheme}://{endpoint.netloc}",
            f"{endpoint.scheme}://{AWS_STORAGE_BUCKET_NAME}.{endpoint.netloc}",
        ]
    origins = [f"https://{AWS_STORAGE_BUCKET_NAME}.s3.amazonaws.com"]
    if region := env_str("AWS_S3_REGION_NAME") or env_str("AWS_DEFAULT_REGION"):
        origins.append(f"https://{AWS_STORAGE_BUCKET_NAME}.s3.{region}.amazonaws.com")
    return origins


SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", *_media_origins()],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
    # Chrome applies form-action to the redirect after a POST: top-up and the billing portal
    # answer their POSTs with a redirect to Stripe's hosted pages.
    "form-action": [CSP.SELF, "https://checkout.stripe.com", "https://billing.stripe.com"],
}

# --- Logging ----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
