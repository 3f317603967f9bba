"""Web forms of the separations layer: shape and parsing only; services decide what is allowed."""

from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone

from apprehensions.models import Person, Station
from familylink.common.dates import MAX_YEAR, MIN_YEAR

from .models import CustodyPeriod, ReasonCode

TIME_ZONES = [
    ("America/Denver", "Mountain time (El Paso)"),
    ("America/Chicago", "Central time (McAllen, Rio Grande Valley)"),
    ("America/Phoenix", "Arizona time (Yuma)"),
    ("America/Los_Angeles", "Pacific time (San Diego)"),
    ("UTC", "UTC"),
]
_ZONES = {name for name, _ in TIME_ZONES}
LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")


def default_time_zone(user: Any) -> str:
    """The user's station time zone, else the reader's zone of this request (a coordinator's team's,
    activated by reunification's ReaderTimeZoneMiddleware), else UTC."""
    code = getattr(user, "station", "")
    tz = Station.objects.filter(code=code).values_list("timezone", flat=True).first() if code else None
    if tz not in _ZONES:
        tz = timezone.get_current_timezone_name()
    return tz if tz in _ZONES else "UTC"


def combine_local(value: str, tz_name: str) -> datetime | None:
    """A `datetime-local` value read in `tz_name`; None when it is not a date and time."""
    for fmt in LOCAL_FORMATS:
        try:
            naive = datetime.strptime(value.strip(), fmt)  # noqa: DTZ007 - zone applied next
        except ValueError:
            continue
        return naive.replace(tzinfo=ZoneInfo(tz_name))
    return None


def _exists(value: datetime) -> bool:
    """Whether this wall-clock time in its zone happened (not in a spring-forward gap)."""
    round_trip = value.astimezone(ZoneInfo("UTC")).astimezone(value.tzinfo)
    return round_trip.replace(tzinfo=None) == value.replace(tzinfo=None)


def _zone_label(tz_name: str) -> str:
    return dict(TIME_ZONES).get(tz_name, tz_name)


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%dT%H:%M")
        return value


class InstantFormMixin:
    """Pairs of `<name>` (datetime-local) and `<name>_tz` fields become aware datetimes in clean()."""

    instant_fields: tuple[str, ...] = ()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()  # type: ignore[misc]
        for name in self.instant_fields:
            raw = cleaned.get(name) or ""
            tz = cleaned.get(f"{name}_tz") or "UTC"
            if not raw:
                cleaned[name] = None
                continue
            value = combine_local(raw, tz)
            if value is None:
                self.add_error(name, "Enter a date and time, e.g. 2018-06-01 14:00.")  # type: ignore[attr-defined]
            elif not MIN_YEAR <= value.year <= MAX_YEAR:
                # The API refuses these too (AwareDateTimeField): one rule for web and API.
                self.add_error(name, f"Use a date between {MIN_YEAR} and {MAX_YEAR}.")  # type: ignore[attr-defined]
                value = None
            elif not _exists(value):
                # A wall-clock time skipped when the clocks went forward never happened there.
                self.add_error(  # type: ignore[attr-defined]
                    name,
                    f"{value:%Y-%m-%d %H:%M} did not happen in {_zone_label(tz)}: the clocks went "
                    "forward an hour that night; enter a time before or after the skipped hour.",
                )
                value = None
            cleaned[name] = value
        return cleaned


def _instant_field(label: str, *, required: bool = True, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        widget=DateTimeLocalInput(),
        help_text=help_text,
        error_messages={"required": f"Enter {label[0].lower()}{label[1:]}: the date and the time."},
    )


def _tz_field(label: str = "Time zone") -> forms.ChoiceField:
    return forms.ChoiceField(label=label, choices=TIME_ZONES)


def reason_choices() -> list[tuple[str, str]]:
    codes = ReasonCode.objects.filter(retired_at__isnull=True, withdrawn_at__isnull=True).order_by("label")
    return [("", "- Select a reason -")] + [
        (c.code, f"{c.label} ({c.get_category_display()})") for c in codes
    ]


class SeparationRequestForm(InstantFormMixin, forms.Form):
    instant_fields = ("occurred_at",)

    children = forms.MultipleChoiceField(
        label="Children separated", widget=forms.CheckboxSelectMultiple, required=False
    )
    adults = forms.MultipleChoiceField(
        label="Adults they are separated from", widget=forms.CheckboxSelectMultiple, required=False
    )
    reason_code = forms.ChoiceField(label="Reason", required=False)
    narrative = forms.CharField(
        label="Narrative",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What happened and why. Required when the reason is Other.",
    )
    occurred_at = _instant_field("When the separation happened")
    occurred_at_tz = _tz_field()
    place = forms.CharField(label="Place", required=False, max_length=255, help_text="e.g. El Paso Station")
    family_unit = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, candidates: list[Person], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        minors = [p for p in candidates if p.is_minor]
        grown = [p for p in candidates if not p.is_minor]
        cast(forms.ChoiceField, self.fields["children"]).choices = [
            (str(p.pk), _person_label(p)) for p in minors
        ]
        cast(forms.ChoiceField, self.fields["adults"]).choices = [
            (str(p.pk), _person_label(p)) for p in grown
        ]
        cast(forms.ChoiceField, self.fields["reason_code"]).choices = reason_choices()


def _person_label(person: Person) -> str:
    parts = [person.full_name]
    if person.date_of_birth:
        parts.append(f"born {person.date_of_birth:%Y-%m-%d}")
    if person.a_number:
        parts.append(person.a_number)
    return ", ".join(parts)


class DecisionForm(forms.Form):
    comment = forms.CharField(
        label="Comment",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required to reject: say why.",
    )


class CustodyTransferForm(InstantFormMixin, forms.Form):
    instant_fields = ("started_at",)

    agency = forms.ChoiceField(
        label="New custody",
        choices=[("", "- Select an agency -"), *CustodyPeriod.Agency.choices],
        required=False,
    )
    facility = forms.CharField(label="Facility", required=False, max_length=200)
    started_at = _instant_field("Transferred at")
    started_at_tz = _tz_field()
    change_reason = forms.CharField(label="Note (optional)", required=False, max_length=100)


class ReportForm(InstantFormMixin, forms.Form):
    instant_fields = ("as_of", "known_at")

    as_of = _instant_field("Separated at", required=False, help_text="Leave empty for now.")
    as_of_tz = _tz_field("Separated at: time zone")
    known_at = _instant_field(
        "As the system knew it at (optional)",
        required=False,
        help_text="Leave empty to answer from the records as they stand now.",
    )
    known_at_tz = _tz_field("Known at: time zone")
    category = forms.ChoiceField(
        label="Reason category (optional)",
        choices=[("", "Any reason"), *ReasonCode.Category.choices],
        required=False,
        error_messages={"invalid_choice": "Choose a reason category from the list, or Any reason."},
    )
    agency = forms.ChoiceField(
        label="Held at that moment by (optional)",
        help_text="The custody agency holding the child at that moment.",
        choices=[("", "Any agency"), *CustodyPeriod.Agency.choices, ("NONE", "No custody recorded")],
        required=False,
        error_messages={"invalid_choice": "Choose an agency from the list, or Any agency."},
    )
