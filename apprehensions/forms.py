"""Web forms of the apprehensions layer: shape only.

The intake form reads what the agent typed into the keyword arguments the API's serializer gives
the same service (`services/inputs.py`), and puts the service's messages (keyed by the contract's
field paths) back next to the fields they name. Rows are added and removed by posting the whole
form back, so nothing typed is ever lost.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django import forms
from django.http import QueryDict
from django.utils import timezone

from .anumber import InvalidANumber, normalize_a_number
from .models import Person, Relationship, Station
from .services.inputs import (
    FamilyUnitInput,
    IntakeInput,
    PersonFields,
    PersonInput,
    RelationshipInput,
    read_date_of_birth,
    read_person_id,
)
from .services.rules import Errors

FAMILY_LETTERS = ["A", "B", "C", "D", "E"]
COUNTRIES = [
    ("", "Not known"),
    ("GT", "Guatemala"),
    ("HN", "Honduras"),
    ("SV", "El Salvador"),
    ("MX", "Mexico"),
    ("NI", "Nicaragua"),
    ("CR", "Costa Rica"),
    ("PA", "Panama"),
    ("BZ", "Belize"),
    ("CO", "Colombia"),
    ("EC", "Ecuador"),
    ("VE", "Venezuela"),
    ("CU", "Cuba"),
    ("HT", "Haiti"),
    ("BR", "Brazil"),
    ("IN", "India"),
    ("CN", "China"),
    ("US", "United States"),
]
ON_FILE = "file"
T = TypeVar("T")
PATH_RE = re.compile(r"^(persons|relationships|family_units)\[(\d+)\](?:\.(.+))?$")


class EncounterForm(forms.Form):
    occurred_at = forms.CharField(required=False, label="Date and time of the encounter")
    station = forms.CharField(required=False, label="Station")
    location_description = forms.CharField(required=False, label="Location")


class PersonRowForm(forms.Form):
    ref = forms.CharField(required=False, widget=forms.HiddenInput)
    given_names = forms.CharField(required=False, label="Given names")
    first_surname = forms.CharField(required=False, label="First surname")
    second_surname = forms.CharField(required=False, label="Second surname")
    sex = forms.ChoiceField(
        required=False, choices=[("U", "Unknown"), *[c for c in Person.Sex.choices if c[0] != "U"]]
    )
    date_of_birth = forms.CharField(required=False, label="Date of birth")
    dob_estimated = forms.BooleanField(required=False, label="Date of birth is estimated")
    country_of_citizenship = forms.ChoiceField(
        required=False, choices=COUNTRIES, label="Country of citizenship"
    )
    a_number = forms.CharField(required=False, label="A-number")
    family = forms.ChoiceField(
        required=False,
        choices=[("", "Not in a family unit"), *[(x, f"Family {x}") for x in FAMILY_LETTERS]],
        label="Came as family",
    )
    match = forms.CharField(required=False, label="Likely duplicate decision")
    reviewed = forms.CharField(required=False, widget=forms.HiddenInput)

    TEXT_FIELDS = ("given_names", "first_surname", "second_surname", "date_of_birth", "a_number")

    def is_blank(self) -> bool:
        return not any(str(self.value(f) or "").strip() for f in self.TEXT_FIELDS)

    def value(self, name: str) -> Any:
        return self[name].value()

    @property
    def label_name(self) -> str:
        name = " ".join(
            str(self.value(f) or "").strip() for f in ("given_names", "first_surname", "second_surname")
        ).strip()
        return name


class RelationshipRowForm(forms.Form):
    from_person = forms.CharField(required=False, label="From (parent, guardian or grandparent)")
    from_a_number = forms.CharField(required=False, label="A-number of the person on file (from)")
    type = forms.ChoiceField(required=False, choices=Relationship.Type.choices, label="Relationship")
    to_person = forms.CharField(required=False, label="To (child)")
    to_a_number = forms.CharField(required=False, label="A-number of the person on file (to)")
    evidence = forms.ChoiceField(
        required=False, choices=Relationship.Evidence.choices, label="How it is known"
    )
    document_kind = forms.CharField(required=False, label="Document seen")
    document_number = forms.CharField(required=False, label="Document number")

    def value(self, name: str) -> Any:
        return self[name].value()

    def is_blank(self) -> bool:
        return not (self.value("from_person") or self.value("to_person"))


@dataclass
class IntakeForm:
    """The whole intake page: the encounter, person rows and relationship rows, bound to POST data."""

    encounter: EncounterForm
    persons: list[PersonRowForm]
    relationships: list[RelationshipRowForm]
    station_choices: list[tuple[str, str]]
    non_field_errors: list[str] = field(default_factory=list)
    candidates: dict[int, list[Any]] = field(default_factory=dict)
    on_file_notes: dict[int, Any] = field(default_factory=dict)

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def blank(cls, *, station_choices: list[tuple[str, str]], default_station: str) -> "IntakeForm":
        data = QueryDict(mutable=True)
        station = Station.objects.filter(code=default_station).first()
        tz = ZoneInfo(station.timezone) if station else timezone.get_current_timezone()
        data.update(
            {
                # The agent usually records an encounter that just happened: start from now, station time.
                "occurred_at": timezone.now().astimezone(tz).strftime("%Y-%m-%dT%H:%M"),
                "station": default_station,
                "persons-TOTAL": "1",
                "persons-0-ref": "p1",
                "persons-0-sex": "U",
                "relationships-TOTAL": "0",
            }
        )
        return cls.from_data(data, station_choices=station_choices)

    @classmethod
    def from_data(cls, data: QueryDict, *, station_choices: list[tuple[str, str]]) -> "IntakeForm":
        def total(name: str) -> int:
            try:
                return max(0, min(int(data.get(f"{name}-TOTAL", 0)), 100))
            except ValueError:
                return 0

        encounter = EncounterForm(data)
        persons = [PersonRowForm(data, prefix=f"persons-{i}") for i in range(total("persons"))]
        relationships = [
            RelationshipRowForm(data, prefix=f"relationships-{i}") for i in range(total("relationships"))
        ]
        for form in [encounter, *persons, *relationships]:
            form.is_valid()
        return cls(encounter, persons, relationships, station_choices)

    def _rows_data(self) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        enc = {name: self.encounter[name].value() or "" for name in self.encounter.fields}
        persons = [{name: row[name].value() for name in row.fields} for row in self.persons]
        rels = [{name: row[name].value() for name in row.fields} for row in self.relationships]
        return enc, persons, rels

    def _rebuild(
        self, enc: dict[str, Any], persons: list[dict[str, Any]], rels: list[dict[str, Any]]
    ) -> "IntakeForm":
        data = QueryDict(mutable=True)
        for name, value in enc.items():
            data[name] = value
        data["persons-TOTAL"] = str(len(persons))
        for i, row in enumerate(persons):
            for name, value in row.items():
                if name == "dob_estimated":
                    if value:
                        data[f"persons-{i}-{name}"] = "on"
                elif value is not None:
                    data[f"persons-{i}-{name}"] = value
        data["relationships-TOTAL"] = str(len(rels))
        for i, row in enumerate(rels):
            for name, value in row.items():
                if value is not None:
                    data[f"relationships-{i}-{name}"] = value
        return IntakeForm.from_data(data, station_choices=self.station_choices)

    def add_person(self) -> "IntakeForm":
        enc, persons, rels = self._rows_data()
        used = {str(p.get("ref") or "") for p in persons}
        n = 1
        while f"p{n}" in used:
            n += 1
        persons.append({"ref": f"p{n}", "sex": "U"})
        return self._rebuild(enc, persons, rels)

    def remove_person(self, index: int) -> "IntakeForm":
        enc, persons, rels = self._rows_data()
        if 0 <= index < len(persons):
            ref = persons.pop(index).get("ref")
            for rel in rels:
                for end in ("from_person", "to_person"):
                    if rel.get(end) == ref:
                        rel[end] = ""
        return self._rebuild(enc, persons, rels)

    def add_relationship(self) -> "IntakeForm":
        enc, persons, rels = self._rows_data()
        rels.append({"type": Relationship.Type.PARENT, "evidence": Relationship.Evidence.CLAIMED})
        return self._rebuild(enc, persons, rels)

    def remove_relationship(self, index: int) -> "IntakeForm":
        enc, persons, rels = self._rows_data()
        if 0 <= index < len(rels):
            rels.pop(index)
        return self._rebuild(enc, persons, rels)

    # --- to the service ---------------------------------------------------------------------

    def person_choices(self) -> list[tuple[str, str]]:
        choices = []
        for i, row in enumerate(self.persons):
            name = row.label_name
            choices.append((str(row.value("ref")), f"Person {i + 1}" + (f": {name}" if name else "")))
        return choices

    def occurred_at(self) -> datetime | None:
        raw = str(self.encounter["occurred_at"].value() or "").strip()
        if not raw:
            return None
        try:
            naive = datetime.fromisoformat(raw)
        except ValueError:
            self.encounter.add_error(
                "occurred_at", f"{raw!r} is not a date and time; enter it as in 2018-06-01 10:15."
            )
            return None
        code = str(self.encounter["station"].value() or "")
        station = Station.objects.filter(code=code).first()
        tz = ZoneInfo(station.timezone) if station else timezone.get_current_timezone()
        if timezone.is_naive(naive):
            return naive.replace(tzinfo=tz)
        return naive

    def to_input(self) -> tuple[IntakeInput, Errors, list[int], list[int]]:
        """The keyword arguments of `apprehension_record` for this form, what could not be read (by the
        contract's field paths), and which row each persons[i]/relationships[j] came from."""
        person_rows = [i for i, row in enumerate(self.persons) if not row.is_blank() or row.value("match")]
        rel_rows = [j for j, row in enumerate(self.relationships) if not row.is_blank()]
        errors: Errors = {}
        families: dict[str, list[str]] = {}
        persons = []
        for index, i in enumerate(person_rows):
            row = self.persons[i]
            persons.append(self._person_item(row, f"persons[{index}]", errors))
            letter = str(row.value("family") or "")
            if letter:
                families.setdefault(letter, []).append(str(row.value("ref")))
        units: list[FamilyUnitInput] = [
            {"members": refs, "label": f"Family {letter}"} for letter, refs in sorted(families.items())
        ]
        intake: IntakeInput = {
            "occurred_at": self.occurred_at(),
            "station": self.encounter["station"].value() or "",
            "location_description": self.encounter["location_description"].value() or "",
            "persons": persons,
            "family_units": units,
            "relationships": [self._relationship_item(self.relationships[j]) for j in rel_rows],
        }
        return intake, errors, person_rows, rel_rows

    @staticmethod
    def _person_item(row: PersonRowForm, path: str, errors: Errors) -> PersonInput:
        ref = str(row.value("ref"))
        match = str(row.value("match") or "")
        given, first, second = (
            row.value(f) or "" for f in ("given_names", "first_surname", "second_surname")
        )
        dob, a_number = row.value("date_of_birth") or "", row.value("a_number") or ""
        if match not in ("", "new", "same_a_number") and not match.startswith("same:"):
            # Read as "no decision" it skipped the duplicate review and saved a new person.
            errors[f"{path}.match"] = [
                f"{match[:40]!r} is not a decision this form offers; "
                "choose the person on file or a new person."
            ]
        if match.startswith("same:"):
            name = " ".join((given, first, second)).strip()
            described = ", ".join(str(v) for v in (name, dob, a_number) if v)
            note = f"Agent chose the person on file after review; entered as: {described}"
            return {
                "ref": ref,
                "existing_person": _read(read_person_id, match[5:], f"{path}.existing_person", errors),
                "match": "same_person",
                "match_note": note[:255],
            }
        item: PersonInput = {
            "ref": ref,
            "given_names": given,
            "first_surname": first,
            "second_surname": second,
            "sex": row.value("sex") or "U",
            "date_of_birth": _read(read_date_of_birth, dob, f"{path}.date_of_birth", errors),
            "dob_estimated": bool(row.value("dob_estimated")),
            "country_of_citizenship": row.value("country_of_citizenship") or "",
            "a_number": a_number,
        }
        if match == "same_a_number":
            # The agent confirmed, at review, the person on file with this A-number (whom they may not
            # see): linked even where the details typed differ from the record on file.
            name = " ".join((given, first, second)).strip()
            described = ", ".join(str(v) for v in (name, dob, a_number) if v)
            item["match"] = "same_person"
            note = f"Agent confirmed the person on file with this A-number; entered as: {described}"
            item["match_note"] = note[:255]
        elif match == "new":
            reviewed = str(row.value("reviewed") or "")
            item["match"] = "new"
            if reviewed:
                item["match_note"] = f"Agent reviewed likely duplicates ({reviewed}) and chose a new person"[
                    :255
                ]
        return item

    def _relationship_item(self, row: RelationshipRowForm) -> RelationshipInput:
        ends = {}
        for end in ("from", "to"):
            choice = str(row.value(f"{end}_person") or "")
            ends[end] = self._on_file_id(row, end) if choice == ON_FILE else choice
        return {
            "from": ends["from"],
            "to": ends["to"],
            "type": row.value("type") or "",
            "evidence": row.value("evidence") or "",
            "document_kind": row.value("document_kind") or "",
            "document_number": row.value("document_number") or "",
        }

    def _on_file_id(self, row: RelationshipRowForm, end: str) -> str:
        raw = str(row.value(f"{end}_a_number") or "").strip()
        if not raw:
            row.add_error(f"{end}_a_number", "Enter the A-number of the person on file.")
            return ""
        try:
            a_number = normalize_a_number(raw)
        except InvalidANumber as exc:
            row.add_error(f"{end}_a_number", f"A-number: {exc}")
            return ""
        person = Person.objects.filter(a_number=a_number, withdrawn_at__isnull=True).first()
        if person is None:
            row.add_error(
                f"{end}_a_number",
                f"No person with A-number {a_number} is on file; check the number, or add the person "
                "to this encounter instead.",
            )
            return ""
        return str(person.pk)

    def check_families(self) -> None:
        """A family unit has at least two persons: say so next to a lone member's family choice."""
        counts: dict[str, int] = {}
        for row in self.persons:
            letter = str(row.value("family") or "")
            if letter and not row.is_blank():
                counts[letter] = counts.get(letter, 0) + 1
        for row in self.persons:
            letter = str(row.value("family") or "")
            if letter and counts.get(letter) == 1:
                row.add_error(
                    "family",
                    f"Family {letter} has only this person; choose the same family for the others who came "
                    "with them, or 'Not in a family unit'.",
                )

    def apply_errors(self, errors: dict[str, list[str]], person_rows: list[int], rel_rows: list[int]) -> None:
        """Put the service's messages (by field path) next to the fields of the rows they came from."""
        refs = {str(self.persons[i].value("ref")): i for i in person_rows}
        family_flagged = any("family" in row.errors for row in self.persons)
        for path, messages in errors.items():
            match = PATH_RE.match(path)
            if match is None:
                target = self.encounter if path in self.encounter.fields else None
                for message in messages:
                    if target is not None:
                        target.add_error(path, message)
                    else:
                        self.non_field_errors.append(message)
                continue
            kind, index, rest = match.group(1), int(match.group(2)), match.group(3) or ""
            for message in messages:
                if kind == "persons" and index < len(person_rows):
                    row = self.persons[person_rows[index]]
                    name = rest.split(".")[0].split("[")[0]
                    name = {"existing_person": "match", "match_note": "match", "ref": "given_names"}.get(
                        name, name
                    )
                    row.add_error(name if name in row.fields else None, message)
                elif kind == "relationships" and index < len(rel_rows):
                    rel_row = self.relationships[rel_rows[index]]
                    name = {"from": "from_person", "to": "to_person"}.get(rest, rest)
                    if name in ("from_person", "to_person") and rel_row.value(name) == ON_FILE:
                        name = name.replace("_person", "_a_number")
                    if name not in rel_row.errors:
                        rel_row.add_error(name if name in rel_row.fields else None, message)
                elif kind == "family_units" and rest == "members" and family_flagged:
                    continue
                elif kind == "family_units":
                    member = re.match(r"members\[(\d+)\]", rest)
                    placed = False
                    if member is not None:
                        payload_units = self._unit_refs()
                        if index < len(payload_units) and int(member.group(1)) < len(payload_units[index]):
                            ref = payload_units[index][int(member.group(1))]
                            if ref in refs:
                                self.persons[refs[ref]].add_error("family", message)
                                placed = True
                    if not placed:
                        self.non_field_errors.append(message)
                else:
                    self.non_field_errors.append(message)

    def _unit_refs(self) -> list[list[str]]:
        families: dict[str, list[str]] = {}
        for row in self.persons:
            letter = str(row.value("family") or "")
            if letter and (not row.is_blank() or row.value("match")):
                families.setdefault(letter, []).append(str(row.value("ref")))
        return [refs for _, refs in sorted(families.items())]

    # --- reading back -----------------------------------------------------------------------

    def person_rows(self) -> list[dict[str, Any]]:
        return [
            {"form": row, "index": n, "number": n + 1, "candidates": self.candidates.get(n, [])}
            for n, row in enumerate(self.persons)
        ]

    def relationship_rows(self) -> list[dict[str, Any]]:
        return [{"form": row, "index": n, "number": n + 1} for n, row in enumerate(self.relationships)]

    @property
    def has_errors(self) -> bool:
        return bool(self.non_field_errors) or any(
            f.errors for f in [self.encounter, *self.persons, *self.relationships]
        )

    def error_summary(self) -> list[dict[str, str]]:
        """Every message with the id of the field it belongs to, for the summary at the top."""
        items: list[dict[str, str]] = []
        for text in self.non_field_errors:
            items.append({"message": text, "anchor": ""})
        for name, messages in self.encounter.errors.items():
            for message in messages:
                items.append({"message": str(message), "anchor": f"id_{name}" if name != "__all__" else ""})
        for n, row in enumerate(self.persons):
            for name, messages in row.errors.items():
                for message in messages:
                    anchor = f"id_persons-{n}-{name}" if name != "__all__" else f"person-{n}"
                    items.append({"message": f"Person {n + 1}: {message}", "anchor": anchor})
        for n, rel_row in enumerate(self.relationships):
            for name, messages in rel_row.errors.items():
                for message in messages:
                    anchor = f"id_relationships-{n}-{name}" if name != "__all__" else f"relationship-{n}"
                    items.append({"message": f"Relationship {n + 1}: {message}", "anchor": anchor})
        return items


def _read(read: Callable[[object], T], value: object, path: str, errors: Errors) -> T | None:
    """`read(value)`; None when it cannot be read, with the reason under `path` in `errors`."""
    try:
        return read(value)
    except ValueError as exc:
        errors.setdefault(path, []).append(str(exc))
        return None


def parse_action(value: str) -> tuple[str, int | None]:
    """`remove_person:2` → ("remove_person", 2); `save` → ("save", None)."""
    name, _, index = (value or "save").partition(":")
    try:
        return name, int(index) if index else None
    except ValueError:
        return name, None


class PersonEditForm(forms.Form):
    """Edit a person's identity fields; `version` guards against overwriting someone else's change."""

    given_names = forms.CharField(required=False, label="Given names")
    first_surname = forms.CharField(required=False, label="First surname")
    second_surname = forms.CharField(required=False, label="Second surname")
    sex = forms.ChoiceField(required=False, choices=Person.Sex.choices)
    date_of_birth = forms.CharField(required=False, label="Date of birth")
    dob_estimated = forms.BooleanField(required=False, label="Date of birth is estimated")
    country_of_citizenship = forms.ChoiceField(
        required=False, choices=COUNTRIES, label="Country of citizenship"
    )
    language = forms.CharField(required=False, label="Language")
    a_number = forms.CharField(required=False, label="A-number")
    change_reason = forms.CharField(required=False, label="Reason for the change")
    version = forms.IntegerField(
        widget=forms.HiddenInput,
        error_messages={
            "required": "This form does not say which version of the record it edits, so nothing was saved.",
            "invalid": "This form does not say which version of the record it edits, so nothing was saved.",
        },
    )

    def to_changes(self) -> tuple[PersonFields, Errors]:
        """`person_update`'s `changes` (every field of the form), and what could not be read."""
        errors: Errors = {}
        dob = _read(read_date_of_birth, self["date_of_birth"].value(), "date_of_birth", errors)
        changes: PersonFields = {
            "given_names": self["given_names"].value(),
            "first_surname": self["first_surname"].value(),
            "second_surname": self["second_surname"].value(),
            "sex": self["sex"].value(),
            "date_of_birth": dob,
            "dob_estimated": bool(self["dob_estimated"].value()),
            "country_of_citizenship": self["country_of_citizenship"].value(),
            "language": self["language"].value(),
            "a_number": self["a_number"].value(),
        }
        return changes, errors


class RelationshipAddForm(forms.Form):
    """Record a relationship from a person's page to another person on file (by A-number)."""

    DIRECTIONS = [
        ("from", "This person is the parent / guardian / grandparent of the other"),
        ("to", "The other person is the parent / guardian / grandparent of this person"),
    ]

    other_a_number = forms.CharField(required=False, label="A-number of the other person")
    direction = forms.ChoiceField(
        choices=DIRECTIONS,
        initial="to",
        label="Direction",
        error_messages={
            "required": "Choose which of the two is the parent, guardian or grandparent.",
            "invalid_choice": "Choose which of the two is the parent, guardian or grandparent "
            "(%(value)s is neither).",
        },
    )
    type = forms.ChoiceField(choices=Relationship.Type.choices, label="Relationship", required=False)
    evidence = forms.ChoiceField(
        choices=Relationship.Evidence.choices, label="How it is known", required=False
    )
    document_kind = forms.CharField(required=False, label="Document seen")
    document_number = forms.CharField(required=False, label="Document number")
    change_reason = forms.CharField(required=False, label="Reason for the change")
