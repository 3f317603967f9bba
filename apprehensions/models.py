"""Persons, apprehensions, family units and the relationships that link them.

A family unit is never split or deleted; separations (next app up) are recorded on top of it.

References declared with `checked_reference` have no foreign-key constraint: a trigger checks them once
per INSERT or UPDATE statement (familylink/common/reference_checks.py), so a parent must be saved
before its children.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Func, Q, Value
from simple_history.models import HistoricalRecords

from familylink.common.clock import wallclock_text
from familylink.common.models import BaseModel, BulkWrittenModel
from familylink.common.reference_checks import checked_reference
from familylink.common.text import fold


class Station(BaseModel):
    """A Border Patrol station or sector office (reference data)."""

    code = models.CharField(max_length=8, unique=True)
    name = models.CharField(max_length=120)
    sector = models.CharField(max_length=120, blank=True)
    timezone = models.CharField(max_length=64, default="America/Denver")

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"


class Person(BulkWrittenModel):
    class Sex(models.TextChoices):
        FEMALE = "F", "Female"
        MALE = "M", "Male"
        OTHER = "X", "Another sex"
        UNKNOWN = "U", "Unknown"

    given_names = models.CharField(max_length=120)
    first_surname = models.CharField(max_length=120, blank=True)
    second_surname = models.CharField(max_length=120, blank=True)
    aliases = models.JSONField(default=list, blank=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    date_of_birth = models.DateField(null=True, blank=True)
    dob_estimated = models.BooleanField(default=False)
    country_of_citizenship = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    language = models.CharField(max_length=64, blank=True)
    a_number = models.CharField(
        max_length=10, null=True, blank=True, unique=True, help_text="Stored as A + 9 digits."
    )
    # Accent- and case-folded "given first second", kept in step by save(); searched with pg_trgm.
    name_normalized = models.CharField(max_length=400, editable=False, db_index=False)
    # Under 18 on the date of the first apprehension; set by intake.
    is_minor = models.BooleanField(default=False, db_index=True)
    # A minor with no adult in any of their family units.
    is_unaccompanied = models.BooleanField(default=False, db_index=True)
    first_encountered_at = models.DateTimeField(null=True, blank=True)
    first_station = checked_reference(Station, null=True, blank=True, related_name="first_persons")

    history = HistoricalRecords(user_db_constraint=False, excluded_fields=["name_normalized"])

    class Meta:
        ordering = ["first_surname", "second_surname", "given_names"]
        constraints = [
            models.CheckConstraint(
                condition=Q(a_number__isnull=True) | Q(a_number__regex=r"^A[0-9]{9}$"),
                name="person_a_number_format",
            ),
        ]
        indexes = [
            # Likely-duplicate search narrows by date of birth first, then compares names.
            models.Index(fields=["date_of_birth"], name="person_dob_idx"),
            # The persons list is ordered by name; an index keeps its first page cheap at 1M persons.
            models.Index(
                fields=["first_surname", "second_surname", "given_names", "id"], name="person_name_order_idx"
            ),
            # Matching a sheet's row by first given name and date of birth (legacy.services.matching):
            # one probe per window finds the few persons with that name born then, where the date of
            # birth alone gave every person born that year (an estimated date's window).
            models.Index(
                Func(F("name_normalized"), Value(" "), Value(1), function="split_part"),
                "date_of_birth",
                name="person_first_word_dob",
                condition=Q(withdrawn_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.given_names, self.first_surname, self.second_surname) if p)

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.name_normalized = fold(self.full_name)
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "name_normalized"}
        super().save(*args, **kwargs)


class PersonIdentifier(BaseModel):
    """Numbers other than the A-number: HHS ORR case number, FINS, passport..."""

    class Kind(models.TextChoices):
        HHS_CASE = "hhs_case", "HHS ORR case number"
        FINS = "fins", "FINS number"
        PASSPORT = "passport", "Passport"
        OTHER = "other", "Other"

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="identifiers")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=64)
    issuer = models.CharField(max_length=64, blank=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "value"], condition=Q(withdrawn_at__isnull=True), name="identifier_unique"
            ),
        ]


class Apprehension(BulkWrittenModel):
    """One encounter: when, where, by whom, and everyone encountered together."""

    occurred_at = models.DateTimeField(db_index=True)
    station = checked_reference(Station, related_name="apprehensions")
    location_description = models.CharField(max_length=255, blank=True)
    apprehending_agent = checked_reference(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+")
    persons = models.ManyToManyField(Person, through="ApprehensionPerson", related_name="apprehensions")

    history = HistoricalRecords(user_db_constraint=False)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["station", "occurred_at"], name="apprehension_station_time_idx")]

    def __str__(self) -> str:
        # In the station's zone, with its abbreviation (history pages and messages name an
        # apprehension by this text; a bare time would be UTC with nothing to say so).
        return f"{self.station.code} {wallclock_text(self.occurred_at, self.station)}"


class ApprehensionPerson(BulkWrittenModel):
    """A person encountered in an apprehension, and how intake matched them to the records."""

    class Match(models.TextChoices):
        NEW = "new", "New person"
        SAME_PERSON = "same_person", "Agent chose an existing person"
        A_NUMBER = "a_number", "Existing person by A-number"
        EXISTING = "existing", "Existing person named in the request"

    apprehension = checked_reference(Apprehension, related_name="encounters")
    person = checked_reference(Person, related_name="encounters")
    match = models.CharField(max_length=16, choices=Match.choices, default=Match.NEW)
    match_note = models.CharField(max_length=255, blank=True)

    history = HistoricalRecords(user_db_constraint=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["apprehension", "person"], name="apprehension_person_unique"),
        ]
        indexes = [models.Index(fields=["person", "apprehension"])]


class FamilyUnit(BulkWrittenModel):
    """People who arrived together as a family. Never split, never deleted."""

    apprehension = checked_reference(Apprehension, null=True, blank=True, related_name="family_units")
    label = models.CharField(max_length=120, blank=True)
    members = models.ManyToManyField(Person, through="FamilyMembership", related_name="family_units")

    history = HistoricalRecords(user_db_constraint=False)

    def __str__(self) -> str:
        return self.label or f"Family unit {str(self.pk)[:8]}"


class FamilyMembership(BulkWrittenModel):
    class Role(models.TextChoices):
        ADULT = "adult", "Adult"
        CHILD = "child", "Child"

    family_unit = checked_reference(FamilyUnit, related_name="memberships")
    person = checked_reference(Person, related_name="memberships")
    role = models.CharField(max_length=8, choices=Role.choices)

    history = HistoricalRecords(user_db_constraint=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["family_unit", "person"], name="family_membership_unique"),
        ]
        indexes = [models.Index(fields=["person", "family_unit"])]


class Relationship(BulkWrittenModel):
    """A typed, directed link: `from_person` is the parent/guardian/grandparent of `to_person`."""

    class Type(models.TextChoices):
        PARENT = "parent", "Parent"
        LEGAL_GUARDIAN = "legal_guardian", "Legal guardian"
        SIBLING = "sibling", "Sibling"
        GRANDPARENT = "grandparent", "Grandparent"
        OTHER_RELATIVE = "other_relative", "Other relative"

    class Evidence(models.TextChoices):
        CLAIMED = "claimed", "Claimed"
        DOCUMENTED = "documented", "Documented"
        DNA_VERIFIED = "dna_verified", "DNA-verified"
        DISPUTED = "disputed", "Disputed"
        DISPROVEN = "disproven", "Disproven"

    class Source(models.TextChoices):
        INTAKE = "intake", "Intake"
        API = "api", "API"
        LEGACY_IMPORT = "legacy_import", "Legacy spreadsheet"
        LINK_DISCOVERY = "link_discovery", "Link discovery"
        CASEWORK = "casework", "Reunification casework"

    from_person = checked_reference(Person, related_name="relationships_from")
    to_person = checked_reference(Person, related_name="relationships_to")
    type = models.CharField(max_length=16, choices=Type.choices)
    evidence = models.CharField(max_length=16, choices=Evidence.choices, default=Evidence.CLAIMED)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.INTAKE)
    note = models.TextField(blank=True)
    document_kind = models.CharField(max_length=64, blank=True, help_text="e.g. birth certificate")
    document_number = models.CharField(max_length=64, blank=True)
    apprehension = checked_reference(Apprehension, null=True, blank=True, related_name="relationships")

    history = HistoricalRecords(user_db_constraint=False)

    @property
    def document_not_named(self) -> bool:
        """Evidence is `documented` but nobody named the document seen: a follow-up for HQ."""
        return self.evidence == self.Evidence.DOCUMENTED and not self.document_kind

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_person=models.F("to_person")), name="relationship_not_self"
            ),
            models.UniqueConstraint(
                fields=["from_person", "to_person", "type"],
                condition=Q(withdrawn_at__isnull=True),
                name="relationship_unique_active",
            ),
        ]
        indexes = [models.Index(fields=["to_person", "type"])]

    def __str__(self) -> str:
        return f"{self.from_person} is {self.get_type_display().lower()} of {self.to_person}"
