import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")

app = Celery("familylink")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="familylink.ping")
def ping() -> str:
    """Answer 'pong'; /health/ uses it to prove a worker is consuming the queue."""
    return "pong"
