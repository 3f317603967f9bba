"""The access log: every view of a child's record (and other sensitive reads) is kept."""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from familylink.common.models import BaseModel


class AccessLog(BaseModel):
    """Who viewed what, when, and through which channel. Append-only."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, db_index=True)
    action = models.CharField(max_length=32, default="view")
    channel = models.CharField(max_length=8, default="web", help_text="web or api")
    path = models.CharField(max_length=255, blank=True)
    is_minor_record = models.BooleanField(default=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
