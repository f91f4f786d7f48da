"""Property tests of the de-identifier (services/common/deidentify.py).

Hypothesis makes a member (names with hyphens, apostrophes and accents; a valid NHS number;
a date of birth; a postcode; an email; a phone) and a GP with a practice, plants their
identifiers in random clinical text, each written in a random form, case and order, and
checks that none of them is left in the de-identified text while every planted clinical
word is: compared after folding case and accents, and for NHS numbers and phones on the
digits alone, whatever spaces, dashes or brackets they were written with.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.deidentify import KnownIdentifiers, deidentify, deidentify_unknown, fold

GIVEN = ["Jane", "Zoë", "José", "Siobhán", "Mary-Jane", "Oluwaseun", "Aisling", "Björn", "Priya",
         "Mohammed", "Elowen", "Chloé", "Łukasz", "Renée", "Jo", "Al", "Kwame", "Anne-Marie"]
SURNAMES = ["Doe", "O'Neil", "Smith-Jones", "Núñez", "McDonald", "D'Arcy", "Tregarthen", "Ng",
            "Øvergaard", "Fitzgerald-O'Brien", "Khan", "Wójcik", "MacLeod", "Li", "Brontë"]
PRACTICE_NAMES = ["High Street", "Riverside", "Penlee", "Oak Tree", "Castle Mead", "St Mary's"]
PRACTICE_ENDINGS = ["Surgery", "Medical Centre", "Practice", "Health Centre"]
#: What a clinician writes; no word here is one of the names above.
CLINICAL = ["Full-thickness supraspinatus tear on MRI", "M75.1", "ibuprofen 400 mg tds", "5 mg",
            "scan 2025-06-01", "seen on 1 June 2025", "physiotherapy for 6 weeks", "ICD-10 S43.4",
            "HbA1c 48 mmol/mol", "open surgical repair", "MRI", "L4 5th level", "BMI 27.5",
            "report of 01/06/2025"]
SEPARATORS = [", ", "; ", ". ", " (", ") ", "\n", " - ", ": "]
CASES: list[Callable[[str], str]] = [str, str.upper, str.lower, str.title]


def with_check_digit(nine: str) -> str | None:
    total = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    return None if check == 10 else nine + str(check)


nhs_numbers = st.text("0123456789", min_size=9, max_size=9).map(with_check_digit).filter(
    lambda n: n is not None).map(str)

OUTWARD_FORMS = ["A9", "A99", "AA9", "AA99", "A9A", "AA9A"]
FIRST, SECOND, INWARD = "ABCDEFGHIJKLMNOPRSTUWYZ", "ABCDEFGHKLMNOPQRSTUVWXY", "ABDEFGHJLNPQRSTUWXYZ"


@st.composite
def postcodes(draw: st.DrawFn) -> str:
    form = draw(st.sampled_from(OUTWARD_FORMS))
    letters = iter([draw(st.sampled_from(FIRST)), draw(st.sampled_from(SECOND))])
    outward = ""
    for i, ch in enumerate(form):
        if ch == "9":
            outward += str(draw(st.integers(0 if i > 1 else 1, 9)))
        elif i >= 2:  # a letter after the district digit: A9A, AA9A
            outward += draw(st.sampled_from("ABEHJKMNPRSTUVWXY"))
        else:
            outward += next(letters)
    inward = str(draw(st.integers(0, 9))) + "".join(draw(st.sampled_from(INWARD)) for _ in range(2))
    return f"{outward} {inward}"


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    return "07" + str(draw(st.integers(1, 9))) + "".join(str(draw(st.integers(0, 9))) for _ in range(8))


@st.composite
def landlines(draw: st.DrawFn) -> str:
    return "020" + str(draw(st.integers(3, 8))) + "".join(str(draw(st.integers(0, 9))) for _ in range(7))


@dataclass(frozen=True)
class Person:
    given: str
    surname: str
    known: KnownIdentifiers


@st.composite
def people(draw: st.DrawFn) -> Person:
    given = draw(st.sampled_from(GIVEN))
    surname = draw(st.sampled_from(SURNAMES))
    local = re.sub(r"[^a-z]", "", fold(given)) + "." + re.sub(r"[^a-z]", "", fold(surname))
    gp_surname = draw(st.sampled_from(SURNAMES))
    practice = f"{draw(st.sampled_from(PRACTICE_NAMES))} {draw(st.sampled_from(PRACTICE_ENDINGS))}"
    known = KnownIdentifiers(
        name=f"{given} {surname}", nhs_number=draw(nhs_numbers),
        date_of_birth=draw(st.dates(date(1925, 1, 1), date(2005, 12, 31))), postcode=draw(postcodes()),
        email=f"{local}@{draw(st.sampled_from(['example.org', 'mail.co.uk', 'nhs.net']))}",
        phone=draw(st.one_of(mobiles(), landlines())),
        gp_name=f"Dr {draw(st.sampled_from('ABCDEHKLMPRS'))} {gp_surname}",
        gp_practice=practice, gp_email=f"{re.sub(r'[^a-z]', '', fold(gp_surname))}.gp@nhs.net",
    )
    return Person(given, surname, known)


# -- the written forms of each identifier ------------------------------------------------------

def name_forms(given: str, surname: str) -> list[str]:
    forms = [f"{given} {surname}", f"{surname}, {given}", f"{surname} {given}", surname,
             f"{given[0]} {surname}", f"{given[0]}. {surname}", f"Mrs {surname}", f"Mr {given} {surname}",
             f"Dr. {surname}", f"{surname}'s"]
    if len(given) >= 3:
        forms.append(given)
    return forms


def gp_forms(gp_name: str) -> list[str]:
    _, initial, surname = gp_name.split(" ", 2)
    return [gp_name, f"Dr {surname}", f"Dr. {initial}. {surname}", f"{initial} {surname}", surname]


def nhs_forms(number: str) -> list[str]:
    return [number, f"{number[:3]} {number[3:6]} {number[6:]}", f"{number[:3]}-{number[3:6]}-{number[6:]}"]


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]


def ordinal(day: int) -> str:
    return str(day) + ("th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th"))


def dob_forms(born: date) -> list[str]:
    d, m, y, month = born.day, born.month, born.year, MONTHS[born.month - 1]
    return [born.isoformat(), f"{d:02}/{m:02}/{y}", f"{d}/{m}/{y}", f"{d:02}-{m:02}-{y}", f"{d:02}.{m:02}.{y}",
            f"{d:02}/{m:02}/{y % 100:02}", f"{d} {month} {y}", f"{ordinal(d)} {month} {y}",
            f"{d} {month[:3]} {y}", f"{month} {d}, {y}", f"{ordinal(d)} of {month} {y}"]


def postcode_forms(postcode: str) -> list[str]:
    return [postcode, postcode.replace(" ", ""), postcode.lower(), postcode.lower().replace(" ", "")]


def phone_forms(phone: str) -> list[str]:
    national = phone[1:]
    if phone.startswith("07"):
        grouped = f"{phone[:5]} {phone[5:]}"
        return [phone, grouped, f"+44 {national[:4]} {national[4:]}", f"+44{national}", f"{phone[:3]} {phone[3:7]} {phone[7:]}"]
    return [phone, f"{phone[:3]} {phone[3:7]} {phone[7:]}", f"({phone[:3]}) {phone[3:7]} {phone[7:]}",
            f"+44 {national[:2]} {national[2:6]} {national[6:]}"]


@dataclass(frozen=True)
class Planted:
    text: str
    identifiers: list[str]  # as written in the text
    clinical: list[str]


@st.composite
def planted_texts(draw: st.DrawFn, person: Person) -> Planted:
    k = person.known
    assert k.gp_name and k.gp_practice and k.email and k.phone and k.gp_email
    choices = [
        *(draw(st.sampled_from(CASES))(draw(st.sampled_from(name_forms(person.given, person.surname))))
          for _ in range(draw(st.integers(1, 4)))),
        draw(st.sampled_from(nhs_forms(k.nhs_number))),
        draw(st.sampled_from(dob_forms(k.date_of_birth))),
        draw(st.sampled_from(CASES))(draw(st.sampled_from(dob_forms(k.date_of_birth)))),
        draw(st.sampled_from(postcode_forms(k.postcode))),
        draw(st.sampled_from([k.email, k.email.upper(), k.gp_email])),
        draw(st.sampled_from(phone_forms(k.phone))),
        draw(st.sampled_from(CASES))(draw(st.sampled_from(gp_forms(k.gp_name)))),
        draw(st.sampled_from(CASES))(k.gp_practice),
    ]
    identifiers = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=len(choices), unique=True))
    clinical = draw(st.lists(st.sampled_from(CLINICAL), min_size=1, max_size=5, unique=True))
    fragments = draw(st.permutations(identifiers + clinical))
    text = fragments[0]
    for fragment in fragments[1:]:
        text += draw(st.sampled_from(SEPARATORS)) + fragment
    return Planted(text, identifiers, clinical)


# -- what must not be left -------------------------------------------------------------------

_APOSTROPHES = re.compile("[’‘`´ʼ]")


def normal(text: str) -> str:
    """Folded (case and accents) with one kind of apostrophe and single spaces."""
    return " ".join(_APOSTROPHES.sub("'", fold(text)).split())


def whole(needle: str, haystack: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", haystack) is not None


def number_runs(text: str) -> list[str]:
    """The digits of every number however it is spaced: "+44 (0)7700 900-123" -> 4407700900123."""
    return [re.sub(r"\D", "", run) for run in re.findall(r"[\d+(][\d\s()+-]*\d", text)]


def name_words(name: str) -> list[str]:
    """Each word of a name that names the person alone (the surname; given names of 3 letters
    or more; the parts of a hyphenated or apostrophe name of 3 letters or more)."""
    words = name.split()
    words = [w for w in words if w.strip(".") not in ("Dr",)]
    out = []
    for i, word in enumerate(words):
        parts = re.split(r"[-']", normal(word))
        if i == len(words) - 1 or len(word) >= 3:
            out.append(normal(word))
        out += [p for p in parts if len(p) >= 3]
    return out


def leftovers(out: str, person: Person, planted: list[str]) -> list[str]:
    k = person.known
    assert k.gp_name and k.gp_practice and k.phone
    text = normal(out)
    left = [p for p in planted if whole(normal(p), text)]
    left += [w for w in name_words(k.name) + name_words(k.gp_name) if whole(w, text)]
    runs = number_runs(out)
    left += [k.nhs_number for run in runs if k.nhs_number in run]
    left += [k.phone for run in runs if k.phone[1:] in run]
    left += [f for f in dob_forms(k.date_of_birth) if whole(normal(f), text)]
    if k.postcode.replace(" ", "") in re.sub(r"\s", "", out.upper()):
        left.append(k.postcode)
    if "@" in out:
        left.append("an email")
    if normal(k.gp_practice) in text:
        left.append(k.gp_practice)
    return left


@settings(max_examples=400, deadline=None)
@given(st.data(), people())
def test_no_planted_identifier_survives_and_clinical_words_do(data: st.DataObject, person: Person) -> None:
    planted = data.draw(planted_texts(person))
    out = deidentify(planted.text, person.known)
    assert leftovers(out, person, planted.identifiers) == [], (planted.text, out)
    for words in planted.clinical:
        assert words in out, (words, planted.text, out)


identifiers = st.one_of(
    nhs_numbers.flatmap(lambda n: st.sampled_from(nhs_forms(n))).map(lambda n: ("nhs", n)),
    postcodes().map(lambda p: ("postcode", p.upper())),
    st.one_of(mobiles(), landlines()).flatmap(lambda p: st.sampled_from(phone_forms(p))).map(lambda p: ("phone", p)),
    st.from_regex(r"[a-z][a-z.]{0,8}[a-z]@[a-z]{2,8}\.(org|co\.uk|nhs\.net)", fullmatch=True).map(lambda e: ("email", e)),
)


def national(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return digits.removeprefix("44") if phone.startswith("+") else digits.removeprefix("0")


@settings(max_examples=200, deadline=None)
@given(st.lists(identifiers, min_size=1, max_size=6), st.lists(st.sampled_from(CLINICAL), min_size=1, max_size=4,
                                                               unique=True), st.randoms(use_true_random=False))
def test_the_pattern_pass_takes_any_nhs_number_postcode_email_and_phone(
        planted: list[tuple[str, str]], clinical: list[str], rnd: random.Random) -> None:
    fragments = [text for _, text in planted] + clinical
    rnd.shuffle(fragments)
    text = "; ".join(fragments)
    out = deidentify_unknown(text)
    runs = number_runs(out)
    for kind, identifier in planted:
        if kind == "email":
            assert "@" not in out, (text, out)
        elif kind == "postcode":
            assert identifier.replace(" ", "") not in out.replace(" ", ""), (text, out)
        elif kind == "nhs":
            assert not any(re.sub(r"\D", "", identifier) in run for run in runs), (text, out)
        else:
            assert not any(national(identifier) in run for run in runs), (text, out)
    for words in clinical:
        assert words in out, (words, text, out)
