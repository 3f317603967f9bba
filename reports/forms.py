"""Forms of the report pages: shape and parsing only."""

from django import forms

from apprehensions.models import Station
from separations.forms import TIME_ZONES, DateTimeLocalInput, InstantFormMixin


class SeriesForm(InstantFormMixin, forms.Form):
    """The dashboard's range: from, to (local dates), optionally as the system knew it at a time."""

    instant_fields = ("known_at",)

    date_from = forms.DateField(
        label="From (date)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "From: not a date that exists; write it as YYYY-MM-DD, e.g. 2018-06-01."},
    )
    date_to = forms.DateField(
        label="To (date)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "To: not a date that exists; write it as YYYY-MM-DD, e.g. 2018-06-20."},
    )
    tz = forms.ChoiceField(label="Days end at midnight in", choices=TIME_ZONES)
    station = forms.ChoiceField(label="Station", required=False)
    known_at = forms.CharField(
        label="As the system knew it at (optional)",
        required=False,
        widget=DateTimeLocalInput(),
        help_text="Leave empty to count from the records as they stand now.",
    )
    known_at_tz = forms.ChoiceField(label="Known at: time zone", choices=TIME_ZONES)

    def __init__(self, *args, stations_allowed: bool = True, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        codes = Station.objects.filter(withdrawn_at__isnull=True).order_by("code")
        station = self.fields["station"]
        assert isinstance(station, forms.ChoiceField)
        station.choices = [("", "All stations")] + [(s.code, str(s)) for s in codes]
        if not stations_allowed:
            del self.fields["station"]


class CourtForm(InstantFormMixin, forms.Form):
    instant_fields = ("as_of",)

    policy = forms.ChoiceField(label="Deadline policy", required=False)
    as_of = forms.CharField(
        label="As of", required=False, widget=DateTimeLocalInput(), help_text="Leave empty for now."
    )
    as_of_tz = forms.ChoiceField(label="As of: time zone", choices=TIME_ZONES)

    def __init__(self, *args, policies=(), **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        policy = self.fields["policy"]
        assert isinstance(policy, forms.ChoiceField)
        policy.choices = [(str(p.pk), p.name) for p in policies]
