"""Person search: names in any order with typos and no accents, A-numbers in any spelling, the
other evidence ranking (never filtering), a threshold that is applied, and why each result matched."""

from datetime import date

import pytest
from django.db import connection

from apprehensions.search import MAX_EXPANSIONS, expand_words, parse_query
from apprehensions.selectors import person_search
from familylink.common.errors import ValidationFailed

from .factories import PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    """Two Xochitl Gómez Pérez (different dates of birth), and others that share a word or two."""
    return {
        "x1": PersonFactory(
            given_names="Xochitl",
            first_surname="Gómez",
            second_surname="Pérez",
            date_of_birth=date(2011, 4, 3),
            country_of_citizenship="GT",
            a_number="A201234567",
        ),
        "x2": PersonFactory(
            given_names="Xochitl",
            first_surname="Gómez",
            second_surname="Pérez",
            date_of_birth=date(1990, 1, 20),
            country_of_citizenship="HN",
        ),
        "abigail": PersonFactory(
            given_names="Abigail", first_surname="Pop", second_surname="Caal", date_of_birth=date(2014, 2, 2)
        ),
        "ana": PersonFactory(
            given_names="Ana María",
            first_surname="Núñez",
            second_surname="Gómez",
            date_of_birth=date(1985, 5, 5),
        ),
        "jose": PersonFactory(
            given_names="José Luis",
            first_surname="Pérez",
            second_surname="López",
            date_of_birth=date(1979, 7, 7),
        ),
    }


def ranked(viewer, q, **rank):
    return list(person_search(viewer=viewer, q=q, rank={k: str(v) for k, v in rank.items()}))


def test_vocabulary_is_kept_by_the_database_triggers(people):
    """Every word of a name saved by any path is in the search vocabulary, with its phonetic keys."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT token, dmeta FROM apprehensions_name_token WHERE token IN ('xochitl', 'caal')")
        rows = dict(cursor.fetchall())
    assert set(rows) == {"xochitl", "caal"}
    assert rows["xochitl"]


@pytest.mark.parametrize(
    "q",
    [
        "Xochitl Gómez Pérez",
        "xochitl gomez perez",  # accents dropped
        "Perez Gomez Xochitl",  # any order
        "Xochitl Gomez",  # second surname missing
        "Xochil Gemes",  # two typos (the example)
        "Sochitl Gomes",  # spelled as it sounds
        "gomez xochitl",
    ],
)
def test_person_search_finds_the_name_however_it_is_written(users, people, q):
    """Both Xochitl Gómez Pérez come before anyone who only shares a word, with reasons."""
    results = ranked(users["hq_analyst"], q)
    assert {p.pk for p in results[:2]} == {people["x1"].pk, people["x2"].pk}
    assert all(p.search_reasons_text for p in results)


def test_person_search_two_typos_in_short_names(users, people):
    """ "Abigal Popp" finds Abigail Pop Caal, saying which words were misspelled."""
    results = ranked(users["hq_analyst"], "Abigal Popp")
    assert results[0] == people["abigail"]
    reasons = results[0].search_reasons_text
    assert "“abigal” ≈ abigail" in reasons
    assert "not given" in reasons


def test_person_search_date_of_birth_ranks_and_never_filters(users, people):
    """The date of birth puts the right Xochitl first; the other one is still listed after her."""
    for dob, first, second in (("2011-04-03", "x1", "x2"), ("1990-01-20", "x2", "x1")):
        results = ranked(users["hq_analyst"], "xochil gomez", born=dob)
        assert results[:2] == [people[first], people[second]]
        assert "Same date of birth" in results[0].search_reasons_text
    # A usual slip (day and month swapped) still counts for something.
    results = ranked(users["hq_analyst"], "xochitl gomez", born="2011-03-04")
    assert results[0] == people["x1"]
    assert "usual slip" in results[0].search_reasons_text


def test_person_search_other_evidence_breaks_ties(users, people):
    """Same name: the country (by name or code) decides who comes first."""
    assert ranked(users["hq_analyst"], "Xochitl Gomez Perez", country="Honduras")[0] == people["x2"]
    assert ranked(users["hq_analyst"], "Xochitl Gomez Perez", country="gt")[0] == people["x1"]
    assert ranked(users["hq_analyst"], "Xochitl Gomez Perez", age=_age(people["x1"]))[0] == people["x1"]


def _age(person) -> int:
    from django.utils import timezone

    today = timezone.localdate()
    dob = person.date_of_birth
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))


@pytest.mark.parametrize("q", ["A201234567", "a-201-234-567", "201 234 567", "Xochitl A201234567"])
def test_person_search_q_takes_an_a_number_in_any_spelling(users, people, q):
    results = ranked(users["hq_analyst"], q)
    assert results[0] == people["x1"]
    assert "Same A-number A201234567" in results[0].search_reasons_text


def test_person_search_threshold_setting_is_applied(users, people, settings):
    """A two-typo query scores under a strict threshold: nothing comes back; the default finds her."""
    assert ranked(users["hq_analyst"], "Abigal Popp")
    settings.PERSON_SEARCH_MIN_SCORE = 0.95
    assert ranked(users["hq_analyst"], "Abigal Popp") == []
    assert ranked(users["hq_analyst"], "Abigail Pop Caal") == [people["abigail"]]


def test_person_search_keeps_the_viewers_scope(users, people):
    """A field agent searching sees none of these persons (none was encountered at their station)."""
    assert ranked(users["field_agent"], "Xochitl Gomez") == []


def test_person_search_bad_evidence_names_the_parameter(users, people):
    with pytest.raises(ValidationFailed) as excinfo:
        ranked(users["hq_analyst"], "xochitl", born="3 April")
    assert "born" in excinfo.value.errors
    with pytest.raises(ValidationFailed) as excinfo:
        ranked(users["hq_analyst"], "xochitl", country="Atlantis")
    assert "country" in excinfo.value.errors


def test_a_word_with_thousands_of_look_alikes_on_file_expands_to_the_closest_few(users, people):
    """A vocabulary of numbered look-alikes ("bench0000" … "bench1999": each within two edits of
    many others) made one search run for minutes: a query word stands for at most MAX_EXPANSIONS
    name words on file, the closest first, and the exact one is among them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO apprehensions_name_token (token, dmeta, dmeta_alt) "
            "SELECT 'bench' || lpad(n::text, 4, '0'), 'PNX', 'PNX' FROM generate_series(0, 1999) n "
            "ON CONFLICT DO NOTHING"
        )
    target = PersonFactory(given_names="Bench1234", first_surname="Gómez", second_surname="Pérez")

    expanded = expand_words(["bench1234"])["bench1234"]
    results = ranked(users["hq_analyst"], "Bench1234 Gomez")

    assert len(expanded) == MAX_EXPANSIONS
    assert expanded["bench1234"].how == "same"
    assert results[0] == target


def test_parse_query_keeps_repeated_surnames_and_reads_dates():
    parsed = parse_query("Cardona Cardona Yaritza 2014-01-20")
    assert sorted(parsed.words) == ["cardona", "cardona", "yaritza"]
    assert parsed.dates == [date(2014, 1, 20)]


def test_api_q_returns_best_first_with_why(client, users, people):
    """The API's `q` uses the same search: best first, each result with its score and reasons."""
    client.force_login(users["hq_analyst"])
    body = client.get("/api/v1/persons/", {"q": "perez gomez xochil", "born": "1990-01-20"}).json()
    first = body["results"][0]
    assert first["id"] == str(people["x2"].pk)
    assert first["match"]["score"] > body["results"][1]["match"]["score"]
    assert any("Same date of birth" in r for r in first["match"]["reasons"])
    bad = client.get("/api/v1/persons/", {"q": "xochitl", "born": "soon"})
    assert bad.status_code == 400
    assert "born" in bad.json()


def test_persons_page_shows_why_each_result_matched(client, users, people):
    client.force_login(users["hq_analyst"])
    html = client.get("/persons/", {"q": "Abigal Popp"}).content.decode()
    assert "Why it matched" in html
    assert "“abigal” ≈ abigail (spelling)" in html
    bad = client.get("/persons/", {"q": "Abigal", "age": "old"}).content.decode()
    assert "age &#x27;old&#x27; is not an age" in bad or "is not an age" in bad
    assert 'value="Abigal"' in bad


@pytest.mark.parametrize(
    ("params", "field_words"),
    [
        ({"station": "ZZZ"}, "station"),
        ({"is_minor": "maybe"}, "is_minor"),
        ({"q": "Perez", "country": "ZZ"}, "country"),
        ({"q": "Perez", "sex": "Q"}, "sex"),
    ],
)
def test_persons_page_says_why_a_filter_without_its_own_message_stopped_the_search(
    client, users, people, params, field_words
):
    """A select filter with a value it does not offer (an old bookmark, an edited link) used to
    leave the page blank: no results and no message. Now the refusal is shown, naming the filter."""
    client.force_login(users["hq_analyst"])
    response = client.get("/persons/", params)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="search-errors"' in html
    errors = response.context["errors"]
    assert errors, params
    shown = html.split('data-testid="search-errors"', 1)[1].split("</ul>", 1)[0]
    assert field_words in shown
