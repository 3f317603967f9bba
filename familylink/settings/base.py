"""FamilyLink settings: everything comes from the environment, with safe local defaults.

Production behaviour is switched on by `DEBUG=false`; see `.env.example` and the README.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _debug_default() -> bool:
    # `DJANGO_DEBUG` is the name the API contract uses; `DEBUG` wins when both are set.
    return env.bool("DJANGO_DEBUG", default=True)


DEBUG = env.bool("DEBUG", default=_debug_default())


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see .env.example).")
    # Local use only: a key generated once and kept out of git, so sign-ins survive restarts.
    path = BASE_DIR / "var" / "secret_key"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(get_random_secret_key())
    return path.read_text().strip()


SECRET_KEY = _secret_key()
# Signs the audit-chain checkpoints auditors export (audit/chain.py); SECRET_KEY when unset.
AUDIT_CHECKPOINT_KEY = env.str("AUDIT_CHECKPOINT_KEY", default="")
AUDIT_VERIFY_HOUR = env.int("AUDIT_VERIFY_HOUR", default=2)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.postgres",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "django_celery_beat",
    "django_htmx",
    "csp",
    "familylink.common",
    "audit",
    "apprehensions",
    "apprehensions.linkage",
    "separations",
    "reunification",
    "events",
    "reports",
    "legacy",
]

MIDDLEWARE = [
    "familylink.common.guards.ApiGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "reunification.middleware.ReaderTimeZoneMiddleware",
    "familylink.common.middleware.DenyByDefaultMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "familylink.common.middleware.WebTextGuardMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
    "audit.middleware.DeniedAccessLogMiddleware",
]

ROOT_URLCONF = "familylink.urls"
WSGI_APPLICATION = "familylink.wsgi.application"

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
                "familylink.common.context_processors.navigation",
            ],
            "builtins": ["familylink.common.templatetags.display", "audit.templatetags.audit_links"],
        },
    },
]

# Two roles (familylink/common/db_roles.py): the app connects as DATABASE_URL's role, which may not
# rewrite or delete anything; migrations run as DATABASE_OWNER_URL's role, which owns the tables.
# DATABASE_ADMIN_URL (a superuser) is used by `manage.py ensure_database` alone, to create both.
DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://familylink_app@127.0.0.1:5432/familylink"),
}


def _credentials(url: str) -> dict[str, Any]:
    config = environ.Env.db_url_config(url)
    return {k: config.get(k, "") for k in ("USER", "PASSWORD", "HOST", "PORT")}


DATABASE_ROLES: dict[str, dict[str, Any]] = {
    "app": _credentials(
        env.str("DATABASE_URL", default="postgres://familylink_app@127.0.0.1:5432/familylink")
    ),
    "owner": _credentials(
        env.str("DATABASE_OWNER_URL", default="postgres://familylink_owner@127.0.0.1:5432/familylink")
    ),
    "admin": _credentials(
        env.str("DATABASE_ADMIN_URL", default="postgres://postgres@127.0.0.1:5432/postgres")
    ),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# A kept connection is checked before a request reuses it, so after a PostgreSQL restart the first
# request gets a fresh connection instead of an error (tests/faults/test_postgres_restart.py).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
# Hot statements (claim-next) as server-side prepared statements, planned once per connection.
# Turn off behind a pooler in transaction mode (PgBouncer's `pool_mode = transaction`), where one
# transaction's connection is not the next one's and an SQL PREPARE does not follow the client.
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "common.User"
# Change reasons ("why") are kept whole, however long.
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "familylink",
    }
}

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in lockout: the same answer whether or not the username exists.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username"]
# Locking by username (not IP) protects each account whatever an attacker rotates, and does not
# lock out a whole station that shares one address; so the IP-based check is silenced on purpose.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Idle timeout: the session expires after this many minutes without a request.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_MINUTES", default=30) * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/uswds", BASE_DIR / "node_modules" / "@uswds" / "uswds" / "dist"),
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# X-Forwarded-Proto is believed only behind a proxy that sets it (and strips a client's own).
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# API tokens expire after this many days; a new one is issued by POST /api/v1/auth/token/.
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=30)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "familylink.common.auth.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["familylink.common.permissions.DenyAll"],
    "DEFAULT_PAGINATION_CLASS": "familylink.common.pagination.BoundedPageNumberPagination",
    "DEFAULT_PARSER_CLASSES": [
        "familylink.common.guards.GuardedJSONParser",
        "familylink.common.guards.GuardedFormParser",
        "familylink.common.guards.GuardedMultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "familylink.common.schema.AutoSchema",
    "EXCEPTION_HANDLER": "familylink.common.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
# Largest API request body (intake of 200 persons is ~150 kB); larger is a JSON 413.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1_000_000)
SPECTACULAR_SETTINGS = {
    "TITLE": "FamilyLink API",
    "DESCRIPTION": "Family separation and reunification case management. See shared/API-CONTRACT.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Without deep links each operation's summary is one button, not a button holding a link
    # (axe-core: nested-interactive).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "familylink.common.schema.document_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "EventTypeEnum": "events.models.EventType",
        "EventResourceTypeEnum": "events.serializers.RESOURCE_TYPE_CHOICES",
        "RelationshipTypeEnum": "apprehensions.models.Relationship.Type",
        # Two components (a candidate, an unmerge's answer) carry a candidate's kind and status.
        "LinkCandidateKindEnum": "apprehensions.linkage.models.LinkCandidate.Kind",
        "LinkCandidateStatusEnum": "apprehensions.linkage.models.LinkCandidate.Status",
    },
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="familylink")

# Change feed and webhooks (events app): the address partners reach FamilyLink at (resource
# links in webhook bodies), how often the dispatcher runs, and the retry schedule of deliveries.
FAMILYLINK_PUBLIC_URL = env.str("FAMILYLINK_PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")
WEBHOOK_DISPATCH_SECONDS = env.int("WEBHOOK_DISPATCH_SECONDS", default=5)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)
WEBHOOK_RETRY_HOURS = env.float("WEBHOOK_RETRY_HOURS", default=25.0)
# A delivery queued to Celery is not queued again for this long; if the message was lost (Redis
# down, worker killed) the dispatcher queues it again once the lease has run out.
WEBHOOK_QUEUE_LEASE_SECONDS = env.float("WEBHOOK_QUEUE_LEASE_SECONDS", default=120.0)

# The hour (in TIME_ZONE) when the morning worklists are built.
WORKLIST_BUILD_HOUR = env.int("WORKLIST_BUILD_HOUR", default=5)
# Link discovery: the nightly full pass hour, and how the pass after an intake runs (inline | celery | off).
LINK_DISCOVERY_HOUR = env.int("LINK_DISCOVERY_HOUR", default=2)
LINKAGE_INCREMENTAL = env.str("LINKAGE_INCREMENTAL", default="inline")

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="familylink@localhost")

FAMILYLINK_DEMO_PASSWORD = env.str("FAMILYLINK_DEMO_PASSWORD", default="familylink-demo")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

# Person search (apprehensions/search.py): the lowest name score (0–1) a result may have, and how
# many results a search returns at most, best first.
PERSON_SEARCH_MIN_SCORE = env.float("PERSON_SEARCH_MIN_SCORE", default=0.6)
PERSON_SEARCH_MAX_RESULTS = env.int("PERSON_SEARCH_MAX_RESULTS", default=100)
