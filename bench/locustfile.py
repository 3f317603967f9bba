"""The Locust scenario of `bench/load.py`: the API calls of the contract as the real roles make them.

Not run on its own: `bench/load.py` prepares the data, the users' tokens and the worklist, starts the
server and a Celery worker, and runs this file headless with the path of a JSON configuration in
FL_LOAD_CONFIG (tokens, person ids, the worklist's items per coordinator, A-number base, report times).
Every response is checked against the status the contract promises for that call; anything else is
an error. Each request is recorded with its time to FL_LOAD_RESULTS when Locust quits, so
`bench/load.py` computes exact percentiles (Locust's own are rounded to 2 significant digits).

The mix: a fixed number of users of each role (CONFIG["users"]); within a role, the task weights.
Field agents record intakes and read the persons they just recorded; HQ analysts search persons
by name, read persons and run the separated-children report (now, and as of a past time as the
system knew it then); coordinators open the day's worklist, claim an item, read its case, tick the
case's next checklist step (`PATCH` with `If-Match`) and complete the item. Each coordinator
claims only items dealt to it, so a 409 is an error here.
"""

import itertools
import json
import os
import random
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scenario import FEMALE, MALE, SURNAMES  # noqa: E402 - stdlib-only module, no Django

CONFIG: dict[str, Any] = json.loads(Path(os.environ["FL_LOAD_CONFIG"]).read_text())
WAIT = between(CONFIG["wait_min"], CONFIG["wait_max"])
A_NUMBERS = itertools.count(CONFIG["a_number_base"] + 1)
COORDINATORS = itertools.count()
SAMPLES: list[tuple[str, float, bool, str, float]] = []  # name, ms, ok, error, ended at (epoch s)
PARENTAGE_METHOD = "documents"
ELIGIBILITY = "eligible"


@events.request.add_listener
def _record(request_type: str, name: str, response_time: float, exception: Any, **_: Any) -> None:
    SAMPLES.append(
        (name, response_time, exception is None, "" if exception is None else str(exception), time.time())
    )


@events.user_error.add_listener
def _user_error(user_instance: Any, exception: Exception, tb: Any, **_: Any) -> None:
    """An exception in the scenario's own code is an error of the run too (not only a bad status)."""
    SAMPLES.append(
        (f"user error in {type(user_instance).__name__}", 0.0, False, repr(exception), time.time())
    )


@events.quitting.add_listener
def _write_samples(environment: Any, **_: Any) -> None:
    Path(os.environ["FL_LOAD_RESULTS"]).write_text(json.dumps(SAMPLES))


class ApiUser(HttpUser):
    abstract = True
    wait_time = WAIT
    role = ""
    # Every user makes each of its calls once when it starts, then picks by weight: a short run
    # (bench/smoke.sh) still exercises every call of the scenario.
    first_visit: tuple[str, ...] = ()

    def on_start(self) -> None:
        self.rng = random.Random()
        self.setup()
        self.client.headers.update({"Authorization": f"Token {self.token()}", "Accept": "application/json"})
        for name in self.first_visit:
            getattr(self, name)()

    def setup(self) -> None:
        pass

    def token(self) -> str:
        return str(CONFIG["tokens"][self.role])

    def call(self, method: str, path: str, name: str, expect: int, **kwargs: Any) -> tuple[Any, str] | None:
        """One request → (JSON body, ETag); any status but `expect`, or a body that is not JSON, is a
        failure (None)."""
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
            if response.status_code != expect:
                response.failure(f"{response.status_code} (expected {expect}): {response.text[:300]}")
                return None
            try:
                body = response.json() if response.content else {}
            except ValueError:
                response.failure(f"not JSON: {response.text[:200]}")
                return None
            response.success()
            return body, response.headers.get("ETag", "")


class FieldAgent(ApiUser):
    """A field agent at EPT: records families, then looks at one of the persons recorded."""

    fixed_count = CONFIG["users"]["field_agent"]
    role = "field_agent"
    first_visit = ("intake", "read_recorded")

    def setup(self) -> None:
        self.recorded: list[str] = []

    @task(3)
    def intake(self) -> None:
        done = self.call(
            "POST", "/api/v1/apprehensions/", "POST apprehensions (intake)", 201, json=self.family()
        )
        if done:
            self.recorded = [p["id"] for p in done[0]["persons"]] + self.recorded[:50]

    @task(1)
    def read_recorded(self) -> None:
        if self.recorded:
            person = self.rng.choice(self.recorded)
            self.call("GET", f"/api/v1/persons/{person}/", "GET persons/{id} (field agent)", 200)

    def family(self) -> dict[str, Any]:
        """A new family of 2–6 (one or two parents, children, parent links, one family unit)."""
        rng = self.rng
        adults, n = (2 if rng.random() < 0.4 else 1), rng.randint(2, 6)
        n = max(n, adults + 1)
        father, mother = rng.choice(SURNAMES), rng.choice(SURNAMES)
        parent_years = [rng.randint(1975, 1992) for _ in range(adults)]
        persons = []
        for i in range(n):
            adult = i < adults
            sex = ("F" if i == 0 else "M") if adult else rng.choice("FM")
            year = parent_years[i] if adult else rng.randint(max(parent_years) + 16, 2017)
            person = {
                "ref": f"p{i + 1}",
                "given_names": rng.choice(FEMALE if sex == "F" else MALE),
                "first_surname": mother if adult and i == 0 else father,
                "second_surname": rng.choice(SURNAMES) if adult else mother,
                "sex": sex,
                "date_of_birth": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "country_of_citizenship": rng.choice(["GT", "HN", "SV"]),
            }
            if adult or rng.random() < 0.6:
                # From a range no earlier run used (bench/load.py passes the highest on file).
                person["a_number"] = f"A{next(A_NUMBERS):09d}"
            persons.append(person)
        return {
            "occurred_at": f"2018-06-{rng.randint(1, 30):02d}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:00-06:00",
            "station": "EPT",
            "location_description": "Load test intake",
            "persons": persons,
            "family_units": [{"members": [p["ref"] for p in persons]}],
            "relationships": [
                {"from": f"p{a + 1}", "to": f"p{c + 1}", "type": "parent", "evidence": "claimed"}
                for a in range(adults)
                for c in range(adults, n)
            ],
        }


class Analyst(ApiUser):
    """An HQ analyst: name searches, person records, the separated-children report."""

    fixed_count = CONFIG["users"]["hq_analyst"]
    role = "hq_analyst"
    first_visit = ("search", "read_person", "report_now", "report_known_at")

    @task(4)
    def search(self) -> None:
        """A person on file looked up by name as an analyst types it: half without accents, a third
        without the second surname, a quarter with the surnames first."""
        rng = self.rng
        given, *surnames = split_name(rng.choice(CONFIG["search_names"]))
        if len(surnames) > 1 and rng.random() < 1 / 3:
            surnames = surnames[:1]
        words = [*surnames, given] if rng.random() < 0.25 else [given, *surnames]
        q = " ".join(words)
        if rng.random() < 0.5:
            q = without_accents(q)
        self.call("GET", "/api/v1/persons/", "GET persons?q= (search)", 200, params={"q": q})

    @task(4)
    def read_person(self) -> None:
        person = self.rng.choice(CONFIG["person_ids"])
        self.call("GET", f"/api/v1/persons/{person}/", "GET persons/{id} (HQ analyst)", 200)

    @task(1)
    def report_now(self) -> None:
        self.call("GET", "/api/v1/reports/separated-children/", "GET report separated-children", 200)

    @task(1)
    def report_known_at(self) -> None:
        as_of, known_at = self.rng.choice(CONFIG["report_times"])
        self.call(
            "GET",
            "/api/v1/reports/separated-children/",
            "GET report separated-children ?as_of&known_at",
            200,
            params={"as_of": as_of, "known_at": known_at},
        )


class Coordinator(ApiUser):
    """A coordinator of the load team: the day's worklist, claim, work the case, complete.

    Each Locust user is one coordinator account (`CONFIG["coordinators"]`) with the items dealt to it.
    """

    fixed_count = CONFIG["users"]["coordinator"]
    role = "coordinator"
    first_visit = ("worklist", "work_next_item")

    def setup(self) -> None:
        self.account = CONFIG["coordinators"][next(COORDINATORS) % len(CONFIG["coordinators"])]
        self.items: list[dict[str, str]] = list(self.account["items"])
        self.day = CONFIG["worklist_day"]

    def token(self) -> str:
        return str(self.account["token"])

    @task(1)
    def worklist(self) -> None:
        self.call("GET", f"/api/v1/worklists/{self.day}/", "GET worklists/{day}", 200)

    @task(3)
    def work_next_item(self) -> None:
        if not self.items:
            return
        item = self.items.pop(0)
        if not self.call(
            "POST", f"/api/v1/worklist-items/{item['id']}/claim/", "POST worklist-items/{id}/claim", 200
        ):
            return
        got = self.call(
            "GET", f"/api/v1/reunification-cases/{item['case']}/", "GET reunification-cases/{id}", 200
        )
        if not got:
            return
        case, etag = got
        change = next_change(case)
        if change:
            self.call(
                "PATCH",
                f"/api/v1/reunification-cases/{item['case']}/",
                "PATCH reunification-cases/{id} (case update)",
                200,
                json={**change, "change_reason": "load test: next step"},
                headers={"If-Match": etag},
            )
        self.call(
            "POST",
            f"/api/v1/worklist-items/{item['id']}/complete/",
            "POST worklist-items/{id}/complete",
            200,
        )


def split_name(full: str) -> list[str]:
    """'María José Pérez Núñez' → given names and surnames as the scenario writes them (the given
    names are one or two of the scenario's first names; the rest are surnames)."""
    words = full.split()
    given = 2 if len(words) >= 4 else 1
    return [" ".join(words[:given]), *words[given:]]


def without_accents(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def next_change(case: dict[str, Any]) -> dict[str, Any] | None:
    """The PATCH body a coordinator sends: tick the first open checklist step (with its method)."""
    if case["status"] not in ("open", "in_progress"):
        return None
    for step in case["checklist"]:
        if step["done"] or step["step"] == "reunified":
            continue
        method = {"parentage_verified": PARENTAGE_METHOD, "eligibility_decision": ELIGIBILITY}
        return {"checklist": [{"step": step["step"], "done": True, "method": method.get(step["step"], "")}]}
    return {"status": "reunified", "note": "load test"}
