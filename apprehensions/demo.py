"""Demo data of the apprehensions layer: stations, and the synthetic scenario of May–June 2018.

The scenario generator lives in bench/scenario.py so that seed_demo and the benchmarks share it.
"""

from typing import Any

from .models import Station

STATIONS = [
    ("EPT", "El Paso Station", "El Paso Sector", "America/Denver"),
    ("MCA", "McAllen Station", "Rio Grande Valley Sector", "America/Chicago"),
    ("YUM", "Yuma Station", "Yuma Sector", "America/Phoenix"),
    ("SDC", "San Diego (Chula Vista) Station", "San Diego Sector", "America/Los_Angeles"),
    ("RGV", "Rio Grande City Station", "Rio Grande Valley Sector", "America/Chicago"),
]


def ensure_stations() -> list[Station]:
    stations = []
    for code, name, sector, tz in STATIONS:
        station = Station.objects.filter(code=code).first()
        if station is None:
            station = Station(code=code, name=name, sector=sector, timezone=tz)
            station._change_reason = "seed_demo"
            station.save()
        stations.append(station)
    return stations


def seed(sender: Any, scale: int | None = None, stdout: Any = None, **kwargs: Any) -> None:
    """Stations, then the scenario up to `scale` persons (a few hundred by default); idempotent."""
    from bench import scenario

    ensure_stations()
    persons = scenario.DEMO_SCALE if scale is None else scale
    write = stdout.write if stdout is not None else (lambda _text: None)
    report = scenario.load(scale=persons, progress=write if persons > scenario.CHUNK_ENCOUNTERS else None)
    write(
        f"Scenario (May–June 2018, seed {scenario.SEED}): {report.encounters_total:,} apprehensions for "
        f"{persons:,} persons; written now: {report.encounters_written:,} apprehensions, "
        f"{report.persons_written:,} persons, {report.rows_written:,} rows with history "
        f"({report.seconds:.1f} s)."
    )
