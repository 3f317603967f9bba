"""Link candidates (suggested relationships, duplicates, A-number conflicts) and reversible merges.

A candidate is never deleted: an analyst's decision is a status change with who, when and why.
Its `key` (kind + the pair, order-free) is unique over every status, so a rejected candidate is
never proposed again and an accepted one is not re-proposed. A proposed candidate naming a record
that is merged away is `superseded` by the merge, and its question is carried to the survivor in a
new candidate (`carried_from`); undoing the merge puts both back (apprehensions/linkage/carry.py).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from apprehensions.models import Person
from familylink.common.models import BaseModel


class LinkCandidate(BaseModel):
    class Kind(models.TextChoices):
        RELATIONSHIP = "relationship", "Unrecorded relationship"
        DUPLICATE_PERSON = "duplicate_person", "Duplicate person"
        A_NUMBER_CONFLICT = "a_number_conflict", "A-number conflict"

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        # An accepted duplicate whose merge was undone: treated as rejected, never proposed again.
        UNMERGED = "unmerged", "Merge undone"
        # Named a record that a merge folded into another (result_id: that merge), or was carried from
        # such a candidate by a merge since undone (result_id: the undone merge). Nobody decides it:
        # the question is asked about the survivor, and an unmerge proposes it again.
        SUPERSEDED = "superseded", "Merged away"

    kind = models.CharField(max_length=20, choices=Kind.choices, db_index=True)
    # relationship: person_a is the adult (from), person_b the child (to).
    # duplicate_person: the pair in the order found; the survivor is chosen at accept time.
    # a_number_conflict: person_a holds the A-number; person_b tried to get it (None when it was
    # never saved because the intake was refused).
    person_a = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    person_b = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    suggested_type = models.CharField(max_length=32)
    score = models.FloatField()
    reasons = models.JSONField(default=list)
    # What the candidate is about beyond the pair (the conflicting A-number, the typed details).
    details = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED, db_index=True)
    key = models.CharField(max_length=200, unique=True, editable=False)
    # The station and date the queue filters on (the pair's shared or latest apprehension).
    station_code = models.CharField(max_length=8, blank=True, db_index=True)
    encountered_on = models.DateField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.TextField(blank=True)
    # What accepting produced: the Relationship id, or the PersonMerge id; for a superseded candidate,
    # the merge that superseded it.
    result_id = models.UUIDField(null=True, blank=True)
    # The superseded candidate whose question a merge carried to its survivor in this one.
    carried_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="carried"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-score", "created_at"]
        indexes = [
            models.Index(fields=["status", "kind", "-score"], name="linkcand_queue_idx"),
            models.Index(fields=["person_a"], name="linkcand_person_a_idx"),
            models.Index(fields=["person_b"], name="linkcand_person_b_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=0) & Q(score__lte=1), name="linkcand_score_0_1"),
        ]

    @property
    def suggested_label(self) -> str:
        return self.suggested_type.replace("_", " ")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.person_a_id} / {self.person_b_id} ({self.score:.2f})"


class PersonMerge(BaseModel):
    """One human entered twice, merged: every reference moved to the survivor, recorded row by row.

    The merged record stays (its page leads to the survivor); `moved` lists each moved reference
    as {"model": app_label.ModelName, "pk": str, "field": name} so an unmerge puts back exactly those.
    """

    survivor = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    merged = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    candidate = models.ForeignKey(
        LinkCandidate, null=True, blank=True, on_delete=models.PROTECT, related_name="merges"
    )
    moved = models.JSONField(default=list)
    reason = models.TextField(blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    undo_reason = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            # A record is merged into at most one survivor at a time.
            models.UniqueConstraint(
                fields=["merged"], condition=Q(undone_at__isnull=True), name="merge_once"
            ),
            models.CheckConstraint(condition=~Q(survivor=models.F("merged")), name="merge_not_self"),
        ]

    @property
    def is_active(self) -> bool:
        return self.undone_at is None
