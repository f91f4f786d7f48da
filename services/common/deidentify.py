"""De-identification of free text: every direct identifier of the member and of the GP
swapped for a typed placeholder ("[name]", "[NHS number]", "[date of birth]", ...).

Intake is the one service that holds the identifiers, so intake runs `deidentify` with them
when a case opens; what a reviewer partner later reads is that output. `deidentify_unknown`
is the pattern-only pass for places that do not hold the identifiers: it removes what looks
like an identifier whoever it belongs to (NHS-valid numbers, postcodes, emails, UK phones).

Precision is traded for recall on purpose: a reviewer can work around "[name] need surgery",
nobody can take back a leaked name. Clinical content is spared where that is safe: words are
matched whole (never inside another word), dates other than the date of birth stay, and
codes, doses and measurements do not look like any identifier below.

Pure: no I/O, no logging; the text and the identifiers never leave this module but as the
returned text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

NAME = "[name]"
NHS_NUMBER = "[NHS number]"
DATE_OF_BIRTH = "[date of birth]"
POSTCODE = "[postcode]"
EMAIL = "[email]"
PHONE = "[phone]"
GP = "[GP]"
PRACTICE = "[practice]"


@dataclass(frozen=True)
class KnownIdentifiers:
    """The direct identifiers given with a request: the member's, then their GP's."""

    name: str
    nhs_number: str
    date_of_birth: date
    postcode: str
    email: str | None = None
    phone: str | None = None
    gp_name: str | None = None
    gp_practice: str | None = None
    gp_email: str | None = None


def deidentify(text: str, known: KnownIdentifiers) -> str:
    """`text` with every direct identifier of the member and the GP replaced."""
    work = _Redaction(text)
    _emails(work, (known.email, known.gp_email))
    work.replace(_digits_in_any_spacing(known.nhs_number), NHS_NUMBER)
    if known.phone:
        work.replace(_phone_in_any_spacing(known.phone), PHONE)
    _dates_of_birth(work, known.date_of_birth)
    _patterns(work)
    work.replace(_postcode_in_any_spacing(known.postcode), POSTCODE)
    _postcodes(work)
    if known.gp_practice:
        work.replace(_practice(known.gp_practice), PRACTICE, folded=True)
    _names(work, known.name, NAME)
    if known.gp_name:
        _names(work, known.gp_name, GP)
    return work.result()


def deidentify_unknown(text: str) -> str:
    """Pattern-only second line of defence, for where the identifiers are not at hand."""
    work = _Redaction(text)
    _emails(work, ())
    _patterns(work)
    _postcodes(work)
    return work.result()


# -- the redaction: a found identifier becomes a sentinel at once ------------------------------

#: A placeholder is held as private-use characters until the end, so a later pass can neither
#: match inside it ("[NHS number]" is not a name) nor join digits across it. Private-use
#: characters are not word characters, so a sentinel is a word boundary to every pattern.
_OPEN, _CLOSE, _DIGIT0 = "\ue000", "\ue001", 0xE100
_SENTINEL = re.compile(f"{_OPEN}([\ue100-\ue10f]+){_CLOSE}")
_PRIVATE_USE = re.compile("[\ue000-\ue1ff]")


class _Redaction:
    def __init__(self, text: str) -> None:
        # Input that already holds our sentinel characters must not be able to forge one.
        self.text = _PRIVATE_USE.sub("\ufffd", text)
        self.labels: list[str] = []

    def replace(self, pattern: re.Pattern[str] | None, label: str | Callable[[re.Match[str]], str | None],
                *, folded: bool = False) -> None:
        """Each match of `pattern` (in the folded text if `folded`) becomes its label, or
        stays where a callable label returns None."""
        if pattern is None:
            return
        haystack = fold(self.text) if folded else self.text
        spans = []
        for match in pattern.finditer(haystack):
            chosen = label(match) if callable(label) else label
            if chosen is not None and match.end() > match.start():
                spans.append((match.start(), match.end(), chosen))
        self.replace_spans(spans)

    def replace_spans(self, spans: Iterable[tuple[int, int, str]]) -> None:
        """Non-overlapping spans, in order of their start."""
        out, at = [], 0
        for start, end, label in sorted(spans):
            if start < at:
                continue
            out += [self.text[at:start], self.sentinel(label)]
            at = end
        out.append(self.text[at:])
        self.text = "".join(out)

    def sentinel(self, label: str) -> str:
        self.labels.append(label)
        index = format(len(self.labels) - 1, "x")
        return _OPEN + "".join(chr(_DIGIT0 + int(h, 16)) for h in index) + _CLOSE

    def result(self) -> str:
        def label(match: re.Match[str]) -> str:
            return self.labels[int("".join(format(ord(c) - _DIGIT0, "x") for c in match.group(1)), 16)]

        return _SENTINEL.sub(label, self.text)


#: Letters accented in no decomposable way, folded by hand ("Łukasz" is written "Lukasz").
_FOLD_BY_HAND = {"ł": "l", "ø": "o", "đ": "d", "ı": "i", "ß": "ß"}


def fold(text: str) -> str:
    """Lower case without accents, one character for one, so offsets into the folded text are
    offsets into `text` ("ZOË" and "zoe" fold alike)."""
    out = []
    for ch in text:
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        low = base.lower()
        low = _FOLD_BY_HAND.get(low, low)
        out.append(low if len(low) == 1 else ch)
    return "".join(out)


# -- emails ------------------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+'%-]+@[\w-]+(?:\.[\w-]+)+")


def _emails(work: _Redaction, known: Iterable[str | None]) -> None:
    for email in known:
        if email and email.strip():
            work.replace(re.compile(re.escape(email.strip()), re.IGNORECASE), EMAIL)
    work.replace(_EMAIL, EMAIL)


# -- NHS numbers and phones --------------------------------------------------------------------

_NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def nhs_check_digit_holds(digits: str) -> bool:
    """Modulus 11 on ten ASCII digits (the same rule intake validates requests with)."""
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    check = 11 - sum(int(d) * w for d, w in zip(digits[:9], _NHS_WEIGHTS, strict=False)) % 11
    return check != 10 and (check % 11) == int(digits[9])


def _digits_in_any_spacing(number: str) -> re.Pattern[str] | None:
    """The digits of `number` in order, whatever spaces, dashes, dots or brackets between them."""
    digits = re.sub(r"\D", "", number)
    if len(digits) < 6:  # too short to be told from a dose or a count
        return None
    return re.compile(r"(?<!\d)" + r"[\s().-]*".join(digits) + r"(?!\d)")


def _phone_in_any_spacing(phone: str) -> re.Pattern[str] | None:
    """The member's phone as written anywhere: with +44, 0044, (0) or a leading 0, or none."""
    digits = re.sub(r"\D", "", phone)
    if phone.strip().startswith("+44") or digits.startswith("0044"):
        digits = digits[2:] if phone.strip().startswith("+") else digits[4:]
    digits = digits.removeprefix("0")
    if len(digits) < 6:
        return None
    prefix = r"(?:(?:\+|00)\s?44\s?(?:\(0\)\s?)?|\(?0)?"
    return re.compile(r"(?<![\d+])" + prefix + r"[\s().-]*".join(digits) + r"(?!\d)")


#: Ten digits, alone or grouped with single spaces or dashes ("943 476 5919", "943-476-5919").
#: Found at every start (a lookahead), so a number run into another does not hide it.
_TEN_DIGITS = re.compile(r"(?<!\d)(?=(\d(?:[ -]?\d){9})(?!\d))")

#: UK phones: +44 / 0044 / (0) or a leading 0, then 9 or 10 digits that start 1-9, with
#: spaces, dashes or a closing bracket between them: 07700 900123, (020) 7946 0000.
_UK_PHONE = re.compile(
    r"(?<![\w+.])(?:(?:\+|00)\s?44[\s-]?(?:\(0\)[\s-]?)?|\(?0)"
    r"[\s)-]{0,2}[1-9](?:[\s)-]{0,2}\d){8,9}(?!\d)"
)


def _patterns(work: _Redaction) -> None:
    """Any NHS-valid number (anyone's: a relative's is as identifying), then any UK phone."""
    spans, taken = [], -1
    for match in _TEN_DIGITS.finditer(work.text):
        start, end = match.start(1), match.end(1)
        if start >= taken and nhs_check_digit_holds(re.sub(r"\D", "", match.group(1))):
            spans.append((start, end, NHS_NUMBER))
            taken = end
    work.replace_spans(spans)
    work.replace(_UK_PHONE, PHONE)


# -- dates of birth ----------------------------------------------------------------------------

_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}
_MONTH = "(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_ORDINAL = r"(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4}|'?\d{2})"
_I = re.IGNORECASE

#: (pattern, readings): each reading orders the match's groups as (year, month, day). A
#: numeric date is read both the UK way and the US way: either can be the date of birth.
_DATE_FORMS: tuple[tuple[re.Pattern[str], tuple[tuple[str, str, str], ...]], ...] = (
    (re.compile(r"(?<!\d)(?P<y>\d{4})(?P<s>[-/.])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})(?!\d)"),
     (("y", "m", "d"),)),
    (re.compile(r"(?<![\d/.-])(?P<a>\d{1,2})(?P<s>[-/. ])(?P<b>\d{1,2})(?P=s)(?P<y>\d{4}|\d{2})(?![\d/-])"),
     (("y", "b", "a"), ("y", "a", "b"))),
    (re.compile(r"(?<!\d)(?P<a>\d{2})(?P<b>\d{2})(?P<y>\d{4}|\d{2})(?!\d)"),
     (("y", "b", "a"), ("y", "a", "b"))),
    (re.compile(r"(?<!\d)(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?!\d)"), (("y", "m", "d"),)),
    (re.compile(r"(?<![\w])(?P<day>\d{1,2})" + _ORDINAL + r"(?:\s+of)?[\s/-]*" + _MONTH
                + r",?[\s/-]*" + _YEAR + r"(?!\w)", _I), (("year", "month", "day"),)),
    (re.compile(r"(?<![\w])" + _MONTH + r"\s+(?:the\s+)?(?P<day>\d{1,2})" + _ORDINAL + r",?\s+"
                + _YEAR + r"(?!\w)", _I), (("year", "month", "day"),)),
)


def _dates_of_birth(work: _Redaction, born: date) -> None:
    for pattern, readings in _DATE_FORMS:
        def is_birth(match: re.Match[str], readings: tuple[tuple[str, str, str], ...] = readings) -> str | None:
            for y, m, d in readings:
                year, month, day = match.group(y).lstrip("'"), match.group(m), match.group(d)
                month_number = _MONTHS.get(month.lower().rstrip(".")) if not month.isdigit() else int(month)
                same_year = int(year) == born.year if len(year) == 4 else int(year) == born.year % 100
                if same_year and month_number == born.month and int(day) == born.day:
                    return DATE_OF_BIRTH
            return None

        work.replace(pattern, is_birth)


# -- postcodes ---------------------------------------------------------------------------------

#: A full UK postcode: outward (A9, A99, AA9, AA99, A9A, AA9A) and inward (9AA), the letters
#: each position may hold; with or without the space, in any case.
_UK_POSTCODE = re.compile(
    r"(?<![^\W_])([A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?) ?(\d[ABD-HJLNP-UW-Z]{2})(?![^\W_])", re.IGNORECASE
)
#: Lower-case inward codes that are far more often an ordinal or a unit in clinical text
#: ("L4 5th", "B12 2ug"); written in capitals they are still taken for a postcode.
_NOT_INWARD = {"st", "nd", "rd", "th", "ug", "hr", "yr"}


def _postcode_in_any_spacing(postcode: str) -> re.Pattern[str] | None:
    chars = re.sub(r"[^A-Za-z0-9]", "", postcode)
    if len(chars) < 5:
        return None
    return re.compile(r"(?<![^\W_])" + r"\s*".join(re.escape(c) for c in chars) + r"(?![^\W_])", _I)


def _postcodes(work: _Redaction) -> None:
    def postcode(match: re.Match[str]) -> str | None:
        letters = match.group(2)[1:]
        if letters.lower() in _NOT_INWARD and not letters.isupper():
            return None
        return POSTCODE

    work.replace(_UK_POSTCODE, postcode)


# -- names -------------------------------------------------------------------------------------

_TITLES = ("mr", "mrs", "ms", "miss", "mx", "dr", "doctor", "prof", "professor", "sir", "dame",
           "lady", "lord", "rev", "revd", "master")
_TITLE = re.compile(r"(?<!\w)(?:" + "|".join(sorted(_TITLES, key=len, reverse=True)) + r")\.?(?!\w)")
#: Name particles: part of a surname, but alone they are ordinary words of many languages.
_PARTICLES = frozenset({"van", "von", "der", "den", "de", "la", "le", "du", "di", "da", "del",
                        "della", "dos", "das", "ter", "ten", "bin", "ibn", "al", "el", "ap"})
_APOSTROPHES = "'’‘`´ʼ"
_HYPHENS = "-‐‑–—"
#: What may stand between the words of one name: "DOE, Jane", "J. Doe", "Dr. A Smith".
_NAME_GAP = re.compile(r"[\s,.]{0,4}")


@dataclass(frozen=True)
class _NameWords:
    strong: tuple[str, ...]  # folded; each names the person alone: the surname, given names >= 3 letters
    weak: tuple[str, ...]  # only beside a strong word: short given names, particles
    initials: tuple[str, ...]  # letters of the given names, as in "J Doe"


def _name_words(name: str) -> _NameWords:
    folded = fold(name)
    if "," in folded:  # "Doe, Jane": the surname first
        surname_part, _, given_part = folded.partition(",")
        words = given_part.split() + surname_part.split()
    else:
        words = folded.split()
    words = [w.strip(".,") for w in words]
    words = [w for w in words if w and w not in _TITLES]
    proper = [w for w in words if w not in _PARTICLES]
    surname = proper[-1] if proper else ""
    strong: list[str] = []
    weak: list[str] = []
    initials: list[str] = []
    for word in words:
        letters = re.sub(r"[^\w]", "", word)
        if word in _PARTICLES:
            weak.append(word)
        elif len(letters) == 1:
            initials.append(letters)
        elif word == surname or len(letters) >= 3:
            # "O'Neil-Brennan" is also "O'Neil", "Brennan" and "Neil".
            parts = re.split(f"[{_HYPHENS}]", word)
            parts += [p for part in parts for p in re.split(f"[{_APOSTROPHES}]", part)]
            strong += [word, *(p for p in parts if len(re.sub(r"[^\w]", "", p)) >= 3)]
        else:
            weak.append(word)
        if word != surname and word not in _PARTICLES and letters:
            initials.append(letters[0])
    return _NameWords(tuple(dict.fromkeys(strong)), tuple(dict.fromkeys(weak)), tuple(dict.fromkeys(initials)))


def _word_pattern(word: str) -> str:
    """A folded name word as it may be written: "o'neil" also as O’Neil, ONeil, O Neil;
    "smith-jones" also as Smith Jones."""
    out = []
    for ch in word:
        if ch in _APOSTROPHES:
            out.append(f"(?:[{_APOSTROPHES}]\\s?|\\s)?")
        elif ch in _HYPHENS:
            out.append(f"(?:\\s?[{_HYPHENS}]\\s?|\\s)?")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _any_word(words: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted(words, key=len, reverse=True)  # the longest first: "smith-jones" before "smith"
    if not ordered:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(_word_pattern(w) for w in ordered) + r")(?!\w)")


def _names(work: _Redaction, name: str, label: str) -> None:
    """Every run of the person's name words (with a title or initials before them) becomes
    one placeholder; a run with no strong word ("Dr A", a lone particle) stays."""
    words = _name_words(name)
    strong = _any_word(words.strong)
    if strong is None:
        return
    folded = fold(work.text)
    found: list[tuple[int, int, str]] = [(m.start(), m.end(), "strong") for m in strong.finditer(folded)]
    if not found:
        return
    weak = _any_word(words.weak)
    if weak is not None:
        found += [(m.start(), m.end(), "weak") for m in weak.finditer(folded)]
    found += [(m.start(), m.end(), "title") for m in _TITLE.finditer(folded)]
    if words.initials:
        initial = re.compile(r"(?<!\w)[" + "".join(map(re.escape, words.initials)) + r"](?:\.|(?!\w))")
        found += [(m.start(), m.end(), "initial") for m in initial.finditer(folded)
                  if work.text[m.start()].isupper()]
    # The longest span first where two start together: "D'Arcy" is a name, not an initial D.
    found.sort(key=lambda span: (span[0], -span[1]))
    work.replace_spans((start, end, label) for start, end in _name_runs(found, folded))


def _name_runs(found: list[tuple[int, int, str]], folded: str) -> list[tuple[int, int]]:
    """Merge neighbouring name words into runs, each holding at least one strong word."""
    runs: list[list[tuple[int, int, str]]] = []
    for span in found:
        if runs and span[0] < runs[-1][-1][1]:
            continue  # overlaps the word before it
        if runs and _NAME_GAP.fullmatch(folded[runs[-1][-1][1]:span[0]]):
            runs[-1].append(span)
        else:
            runs.append([span])
    merged = []
    for run in runs:
        strong_at = [i for i, (_, _, kind) in enumerate(run) if kind == "strong"]
        if not strong_at:
            continue
        last = strong_at[-1]
        # After the last strong word only what belongs to the name: "Doe, J", "Doe Jo";
        # never a title (the next person's) or an initial after a full stop ("Doe. A scan").
        for start, _end, kind in run[last + 1:]:
            gap = folded[run[last][1]:start]
            if kind == "weak" or (kind == "initial" and "." not in gap):
                last += 1
            else:
                break
        merged.append((run[0][0], run[last][1]))
    return merged


# -- the GP's practice -------------------------------------------------------------------------

#: Generic endings of a practice's name: "High Street Surgery" is also written "High Street".
_PRACTICE_ENDINGS = re.compile(
    r"\s+(?:medical\s+centre|medical\s+center|health\s+centre|medical\s+practice|group\s+practice"
    r"|family\s+practice|surgery|practice|clinic|centre|partnership)$"
)


def _practice(practice: str) -> re.Pattern[str] | None:
    """The practice's name in any case and spacing, and its distinctive part when that part
    is two words or more (one word such as "Bridge" is too often an ordinary one)."""
    name = " ".join(fold(practice).split())
    if not name:
        return None
    forms = [name]
    core = _PRACTICE_ENDINGS.sub("", name)
    if core != name and len(core.split()) >= 2:
        forms.append(core)

    def pattern(form: str) -> str:
        words = []
        for word in form.split():
            if word in ("&", "and"):
                words.append("(?:&|and)")
            else:
                words.append(_word_pattern(word.rstrip(".")) + (r"\.?" if word.endswith(".") or len(word) <= 3 else ""))
        return r"[\s,-]+".join(words)

    return re.compile(r"(?<!\w)(?:" + "|".join(pattern(f) for f in forms) + r")(?!\w)")
