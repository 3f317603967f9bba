"""Write a generated data set into the database through the real models' tables.

Reuses the scenario's COPY writer (`bench.scenario.TableLoader`): COPY into a staging table, one
INSERT … SELECT into each table and one into its history table, so every row has its history row
(rule 2), here with the change reason "bench/linkage synthetic data". Stations come from the
demo's reference list. Loading is idempotent: a data set whose first apprehension is on file is
not written again.
"""

from __future__ import annotations

import io
import time
from typing import Any

from bench.linkage.generator import Dataset
from bench.scenario import TableLoader, _encounter_rows, _models

CHANGE_REASON = "bench/linkage synthetic data"
CHUNK = 5_000


class _Loader(TableLoader):
    def flush(self, cursor: Any, lines: list[str]) -> int:
        if not lines:
            return 0
        columns = ", ".join(f'"{c}"' for c in self.columns)
        cursor.copy_expert(
            f'COPY "{self.stage}" ({columns}) FROM STDIN', io.StringIO("\n".join(lines) + "\n")
        )
        cursor.execute(f'INSERT INTO "{self.table}" ({columns}) SELECT {columns} FROM "{self.stage}"')
        history_columns = ", ".join(f'"{c}"' for c in self.history_columns)
        cursor.execute(
            f'INSERT INTO "{self.history_table}" ({history_columns}, history_date, history_change_reason, '
            f"history_type, history_user_id) "
            f'SELECT {history_columns}, "created_at", %s, %s, NULL FROM "{self.stage}"',
            [CHANGE_REASON, "+"],
        )
        cursor.execute(f'TRUNCATE "{self.stage}"')
        return len(lines)


def load(dataset: Dataset) -> tuple[int, float]:
    """Write `dataset` (skipped when already on file); return (persons written, seconds)."""
    from django.db import connection, transaction

    from apprehensions.demo import ensure_stations
    from apprehensions.models import Apprehension, Person
    from familylink.common.text import fold

    started = time.monotonic()
    if not dataset.encounters or Apprehension.objects.filter(pk=dataset.encounters[0].id).exists():
        return 0, time.monotonic() - started
    if Person.objects.exists():
        raise RuntimeError(
            "The database holds persons that are not this data set; the quality bench needs a database of "
            "its own (quality.py names one per size, seed and generator version)."
        )
    stations = {s.code: s.pk for s in ensure_stations()}
    loaders = {model: _Loader(model) for model in _models()}
    written = 0
    for start in range(0, len(dataset.encounters), CHUNK):
        batch = dataset.encounters[start : start + CHUNK]
        rows: dict[Any, list[str]] = {model: [] for model in loaders}
        for e in batch:
            for model, row in _encounter_rows(e, stations, fold):
                rows[model].append(loaders[model].line(row))
        with transaction.atomic(), connection.cursor() as cursor:
            for loader in loaders.values():
                loader.create_stage(cursor)
            for model, loader in loaders.items():
                loader.flush(cursor, rows[model])
        written += sum(len(e.persons) for e in batch)
    with connection.cursor() as cursor:
        for model in loaders:
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')
    return written, time.monotonic() - started
