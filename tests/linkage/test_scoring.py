"""The scorers on their own: what counts as one human, what counts as family, and the reasons."""

from datetime import date

from apprehensions.linkage.scoring import (
    NameFrequencies,
    PersonFacts,
    a_number_slip,
    duplicate_score,
    relationship_score,
    tokens_alike,
)


def facts(given, first, second, dob, sex="F", a_number=None, country="GT", estimated=False):
    return PersonFacts(
        id=given,
        given_names=given,
        first_surname=first,
        second_surname=second,
        date_of_birth=dob,
        dob_estimated=estimated,
        sex=sex,
        a_number=a_number,
        country=country,
    )


FILE = NameFrequencies(total=10_000)


def test_a_number_slip_finds_one_digit_and_neighbour_swaps_only():
    assert a_number_slip("A098765432", "A098765423") == "two neighbouring digits swapped"
    assert a_number_slip("A098765432", "A098765431") == "one digit"
    assert a_number_slip("A098765432", "A123456789") == ""
    assert a_number_slip("A098765432", "A098765432") == ""


def test_tokens_alike_forgives_a_typo_and_mayan_spellings_not_other_names():
    assert tokens_alike("alexander", "alexandr")
    assert tokens_alike("xuc", "juc")
    assert tokens_alike("quiche", "kiche")
    assert not tokens_alike("mateo", "marcos")


def test_duplicate_score_accents_dropped_surname_and_compound_given_name():
    a = facts("María José", "Pérez", "Núñez", date(1988, 4, 2), a_number="A201234567")
    b = facts("Maria", "Perez", "", date(1988, 4, 2))
    s = duplicate_score(a, b, freq=FILE)
    assert s is not None and s.score > 0.9
    assert "second surname dropped on one record" in s.reasons


def test_duplicate_score_twins_and_namesakes_are_two_people():
    twin_a = facts("Mateo", "Chávez", "Tum", date(2015, 8, 8), sex="M")
    twin_b = facts("Marcos", "Chávez", "Tum", date(2015, 8, 8), sex="M")
    assert duplicate_score(twin_a, twin_b, freq=FILE).score < 0.5
    namesake_a = facts("José", "García", "López", date(1980, 1, 1), sex="M")
    namesake_b = facts("José", "García", "López", date(1975, 7, 12), sex="M")
    assert duplicate_score(namesake_a, namesake_b, freq=FILE).score < 0.01
    assert duplicate_score(namesake_a, namesake_b, freq=FILE, cutoff=0.5) is None
    brothers = facts("José Luis", "Ordóñez", "Tax", date(2003, 10, 10), sex="M")
    brother = facts("José Carlos", "Ordóñez", "Tax", date(2003, 10, 10), sex="M")
    assert duplicate_score(brothers, brother, freq=FILE).score < 0.5


def test_common_names_weigh_less_than_rare_ones():
    a = facts("Ana", "López", "Díaz", date(2011, 3, 4))
    b = facts("Ana", "López", "Díaz", date(2011, 3, 14))
    common = NameFrequencies(total=10_000, given={"AN": 900}, first={"LPS": 800}, second={"TS": 700})
    rare = NameFrequencies(total=10_000, given={"AN": 2}, first={"LPS": 2}, second={"TS": 2})
    a_codes = PersonFacts(**{**a.__dict__, "g": "AN", "s1": "LPS", "s2": "TS"})
    b_codes = PersonFacts(**{**b.__dict__, "g": "AN", "s1": "LPS", "s2": "TS"})
    assert (
        duplicate_score(a_codes, b_codes, freq=common).score
        < duplicate_score(a_codes, b_codes, freq=rare).score
    )


def test_relationship_score_parent_sibling_and_stranger():
    father = facts("Juan Carlos", "Gómez", "Ruiz", date(1985, 3, 10), sex="M")
    son = facts("Luis", "Gómez", "Pérez", date(2012, 5, 1), sex="M")
    s = relationship_score(father, son, together="same apprehension 2018-06-01 EPT")
    assert s.suggested_type == "parent" and s.score > 0.9
    assert s.reasons == [
        "same apprehension 2018-06-01 EPT",
        "child's first surname = adult's first surname",
        "the only adult with the child",
        "born 27 years apart",
    ]
    sister = facts("Marta", "Lux", "Coc", date(1999, 1, 15))
    brother = facts("Jorge", "Lux", "Coc", date(2006, 3, 3), sex="M")
    assert relationship_score(sister, brother, together="x").suggested_type == "sibling"
    stranger = facts("Marco", "Villatoro", "Ajanel", date(1983, 9, 9), sex="M")
    kid = facts("Kevin", "Mejía", "Cruz", date(2006, 12, 24), sex="M")
    assert relationship_score(stranger, kid, together="x").score < 0.5
