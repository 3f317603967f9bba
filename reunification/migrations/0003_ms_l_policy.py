"""Seed the Ms. L. v. ICE deadline policy (order of 2018-06-26), with its history row."""

from django.db import migrations

from reunification.reference import MS_L_POLICY


def seed(apps, schema_editor):
    DeadlinePolicy = apps.get_model("reunification", "DeadlinePolicy")
    HistoricalDeadlinePolicy = apps.get_model("reunification", "HistoricalDeadlinePolicy")
    from django.utils import timezone

    if DeadlinePolicy.objects.exists():
        return
    now = timezone.now()
    policy = DeadlinePolicy.objects.create(**MS_L_POLICY, created_at=now, updated_at=now)
    fields = {f.attname: getattr(policy, f.attname) for f in DeadlinePolicy._meta.concrete_fields}
    HistoricalDeadlinePolicy.objects.create(
        **fields, history_date=now, history_type="+", history_change_reason="seeded by migration"
    )


class Migration(migrations.Migration):
    dependencies = [("reunification", "0002_case_clocks_and_closing")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
