"""Read the history of any tracked record, generically.

Every FamilyLink model keeps a django-simple-history table. This module reads any of them through
the model's `history` manager (or the registry of tracked models, by label), without importing the
apps it audits, and shapes each version as the API contract describes:
`{changed_at, changed_by, change_reason, changes: {field: [old, new]}}`.
"""

import datetime
import decimal
import uuid
from typing import Any

from django.apps import apps
from django.db import models
from simple_history.models import registered_models

# Bookkeeping that changes on every save; the version number is reported on its own.
NOISE_FIELDS = frozenset({"updated_at", "version"})
HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}


def is_tracked(model: type[models.Model]) -> bool:
    return model._meta.db_table in registered_models or hasattr(model, "history")


def tracked_model(label: str) -> type[models.Model]:
    """The tracked model for an app label like `apprehensions.person` (LookupError if unknown)."""
    model = apps.get_model(label)
    if not is_tracked(model):
        raise LookupError(f"{label} keeps no history.")
    return model


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def _tracked_fields(record: Any) -> list[models.Field]:
    return [f for f in record.tracked_fields if f.name not in NOISE_FIELDS]


def _field_key(field: models.Field) -> str:
    # Foreign keys are reported by their field name, with the related id as the value.
    return field.name


def _values(record: Any) -> dict[str, Any]:
    return {_field_key(f): getattr(record, f.attname) for f in _tracked_fields(record)}


def history_versions(obj: models.Model, *, newest_first: bool = False) -> list[dict[str, Any]]:
    """Every version of `obj`, oldest first: when, by whom, why, and what changed from the one before.

    The first version lists every non-empty field as `[null, value]`.
    """
    manager = getattr(obj, "history", None)
    if manager is None:
        raise LookupError(f"{obj._meta.label} keeps no history.")
    records = list(manager.all().select_related("history_user").order_by("history_date", "history_id"))
    versions = []
    previous: dict[str, Any] | None = None
    for record in records:
        current = _values(record)
        if previous is None:
            changes = {
                k: [None, _json_value(v)] for k, v in current.items() if v not in (None, "", [], {}, False)
            }
        else:
            changes = {
                k: [_json_value(previous.get(k)), _json_value(v)]
                for k, v in current.items()
                if previous.get(k) != v
            }
        user = record.history_user
        versions.append(
            {
                "history_id": record.history_id,
                "version": getattr(record, "version", None),
                "changed_at": record.history_date.isoformat(),
                "changed_by": user.get_username() if user is not None else None,
                "change_reason": record.history_change_reason or "",
                "type": HISTORY_TYPES.get(record.history_type, record.history_type),
                "changes": changes,
            }
        )
        previous = current
    if newest_first:
        versions.reverse()
    return versions


def history_for(label: str, pk: Any) -> list[dict[str, Any]]:
    """Versions of the record `pk` of the tracked model `label`, even if the record is withdrawn."""
    model = tracked_model(label)
    history_model = model.history.model  # type: ignore[attr-defined]
    pk_name = model._meta.pk.attname
    records = history_model._default_manager.filter(**{pk_name: pk})
    if not records.exists():
        raise LookupError(f"No history for {label} {pk}.")
    instance = model._default_manager.filter(pk=pk).first()
    if instance is not None:
        return history_versions(instance)
    # A record whose current row is gone (only possible for data from before FamilyLink).
    proxy = records.order_by("-history_date").first().instance  # type: ignore[union-attr]
    return history_versions(proxy)


# --- what a person reads on the history page ------------------------------------------------------


class _Display:
    """Field labels and readable values (names instead of ids, choice labels, local times)."""

    def __init__(self, model: type[models.Model]):
        self.model = model
        self._related: dict[tuple[Any, str], str] = {}

    def label(self, name: str) -> str:
        try:
            field = self.model._meta.get_field(name)
        except Exception:  # noqa: BLE001 - a field since removed from the model keeps its raw name
            return name.replace("_", " ")
        return str(getattr(field, "verbose_name", name)).capitalize()

    def value(self, name: str, raw: Any) -> str:
        if raw in (None, ""):
            return "—"
        try:
            field = self.model._meta.get_field(name)
        except Exception:  # noqa: BLE001
            return str(raw)
        if getattr(field, "choices", None):
            return str(dict(getattr(field, "flatchoices", [])).get(raw, raw))
        if field.is_relation and field.related_model is not None:
            key = (field.related_model, str(raw))
            if key not in self._related:
                related = field.related_model._default_manager.filter(pk=raw).first()
                self._related[key] = str(related) if related is not None else f"(record {raw})"
            return self._related[key]
        if isinstance(field, models.DateTimeField):
            return _local_time(raw)
        if isinstance(field, models.BooleanField):
            return "yes" if raw in (True, "true", "True") else "no"
        return str(raw)


def _local_time(value: Any) -> str:
    from django.utils import timezone
    from django.utils.dateformat import format as date_format
    from django.utils.dateparse import parse_datetime

    moment = parse_datetime(value) if isinstance(value, str) else value
    if moment is None:
        return str(value)
    return date_format(timezone.localtime(moment), "Y-m-d H:i T")


def history_for_people(model: type[models.Model], versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The versions (newest first) with labelled fields and readable before → after values."""
    display = _Display(model)
    shaped = []
    for v in reversed(versions):
        shaped.append(
            {
                **v,
                "changed_at_local": _local_time(v["changed_at"]),
                "rows": [
                    {
                        "label": display.label(name),
                        "before": display.value(name, pair[0]),
                        "after": display.value(name, pair[1]),
                    }
                    for name, pair in v["changes"].items()
                ],
            }
        )
    return shaped


def record_as_of(
    model: type[models.Model], versions: list[dict[str, Any]], moment: Any
) -> list[dict[str, str]] | None:
    """Every field of the record as it stood at `moment` (None if it did not exist yet)."""
    from django.utils.dateparse import parse_datetime

    state: dict[str, Any] = {}
    seen = False
    for v in versions:  # oldest first
        if parse_datetime(v["changed_at"]) > moment:
            break
        seen = True
        for name, pair in v["changes"].items():
            state[name] = pair[1]
    if not seen:
        return None
    display = _Display(model)
    return [{"label": display.label(n), "value": display.value(n, value)} for n, value in state.items()]
