"""Countries by name on pages (ISO 3166-1 alpha-2 codes are stored), and back from what people type."""

from functools import cache

import pycountry

from .text import fold

# Names people use that differ from ISO's official short names.
_COMMON_NAMES = {
    "BO": "Bolivia",
    "VE": "Venezuela",
    "US": "United States",
    "RU": "Russia",
    "KR": "South Korea",
}


def country_name(code: str | None) -> str:
    """`Guatemala` for `GT`; an unknown code is shown as given; empty for none."""
    if not code:
        return ""
    code = code.strip().upper()
    if code in _COMMON_NAMES:
        return _COMMON_NAMES[code]
    found = pycountry.countries.get(alpha_2=code)
    return getattr(found, "common_name", None) or getattr(found, "name", None) or code if found else code


@cache
def _by_folded_name() -> dict[str, str]:
    names: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(c, attr, None)
            if value:
                names[fold(value)] = c.alpha_2
    names.update({fold(v): k for k, v in _COMMON_NAMES.items()})
    return names


def country_code(text: str | None) -> str | None:
    """`GT` for `gt`, `Guatemala` or `guatemala`; None when it names no country."""
    raw = (text or "").strip()
    if not raw:
        return None
    if len(raw) == 2 and pycountry.countries.get(alpha_2=raw.upper()) is not None:
        return raw.upper()
    if len(raw) == 3 and raw.isalpha():
        found = pycountry.countries.get(alpha_3=raw.upper())
        if found is not None:
            return str(found.alpha_2)
    return _by_folded_name().get(fold(raw))
