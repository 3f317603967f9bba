"""Reference data of the reunification layer (seeded by migration 0003, re-creatable for tests)."""

from datetime import date
from typing import Any

# Ms. L. v. ICE, S.D. Cal., 26 June 2018: phone contact within 10 days, children under 5
# reunified within 14 days, all others within 30 days.
MS_L_POLICY: dict[str, Any] = {
    "name": "Ms. L. v. ICE, S.D. Cal. (order of 2018-06-26)",
    "order_date": date(2018, 6, 26),
    "contact_days": 10,
    "young_child_age": 5,
    "young_child_days": 14,
    "other_days": 30,
}
