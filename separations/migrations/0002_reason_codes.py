"""The reason codes of the API contract. Administrators add or retire codes later; none is deleted."""

from django.db import migrations

from separations.reference import REASON_CODES


def seed(apps, schema_editor):
    ReasonCode = apps.get_model("separations", "ReasonCode")
    HistoricalReasonCode = apps.get_model("separations", "HistoricalReasonCode")
    from django.utils import timezone

    now = timezone.now()
    for code, label, category, description in REASON_CODES:
        obj, created = ReasonCode.objects.get_or_create(
            code=code,
            defaults={"label": label, "category": category, "description": description,
                      "narrative_required": code == "OTHER", "created_at": now, "updated_at": now},
        )
        if created:
            fields = {f.attname: getattr(obj, f.attname) for f in ReasonCode._meta.concrete_fields}
            HistoricalReasonCode.objects.create(
                **fields, history_date=now, history_type="+", history_change_reason="seeded by migration"
            )


class Migration(migrations.Migration):
    dependencies = [("separations", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
