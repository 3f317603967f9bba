"""Settings for the test suite: the same real PostgreSQL and Redis, isolated names."""

import os

os.environ.setdefault("DEBUG", "true")

from .base import *  # noqa: E402,F403
from .base import DATABASE_ROLES, DATABASES, env  # noqa: E402

# The test database is created and migrated by the owner role; tests/conftest.py then runs every
# test as the app role, as production does, and `flush` (between transactional tests) switches
# back to the owner, the only role that may empty tables (familylink/common/db_roles.py).
DATABASES["default"].update(DATABASE_ROLES["owner"])
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_familylink")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="familylink-test")
CACHES["default"]["KEY_PREFIX"] = "familylink-test"  # noqa: F405
# Tests keep to their own Redis database so they never touch a running app's queues.
REDIS_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/1")
CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
CELERY_BROKER_URL = CELERY_RESULT_BACKEND = REDIS_URL
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
