"""Demo data of the apprehensions layer: stations (the scenario comes with issue 3)."""

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
    ensure_stations()
