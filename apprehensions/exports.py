"""Columns of the persons export (audit.exports does the streaming and the access log)."""

from audit.exports import Column

PERSON_COLUMNS = [
    Column("person_id", lambda p: p.pk),
    Column("a_number", lambda p: p.a_number),
    Column("given_names", lambda p: p.given_names),
    Column("first_surname", lambda p: p.first_surname),
    Column("second_surname", lambda p: p.second_surname),
    Column("sex", lambda p: p.sex),
    Column("date_of_birth", lambda p: p.date_of_birth),
    Column("country_of_citizenship", lambda p: p.country_of_citizenship),
    Column("is_minor", lambda p: p.is_minor),
    Column("first_station", lambda p: p.first_station.code if p.first_station_id else ""),
    Column("first_encountered_at", lambda p: p.first_encountered_at),
]
