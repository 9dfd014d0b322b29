"""English text normalization: write out what a voice would otherwise misread or drop.

Voices read words. Digits, currency, dates, times, symbols and abbreviations are turned into
the words a person would say ("It costs $5 on 3 May" -> "It costs five dollars on the third
of May"), and characters no English voice can say (other scripts, emoji, control
characters) are removed so the rest of the text is still spoken.
"""

from __future__ import annotations

import re
import unicodedata

from num2words import num2words

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_MONTH_NAMES = {
    "jan": "January",
    "feb": "February",
    "mar": "March",
    "apr": "April",
    "jun": "June",
    "jul": "July",
    "aug": "August",
    "sep": "September",
    "sept": "September",
    "oct": "October",
    "nov": "November",
    "dec": "December",
}

# (singular, plural, minor singular, minor plural)
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", "sen", "sen"),
    "₹": ("rupee", "rupees", "paisa", "paise"),
}

_ABBREVIATIONS = {
    "mr.": "Mister",
    "mrs.": "Missus",
    "ms.": "Miz",
    "dr.": "Doctor",
    "prof.": "Professor",
    "st.": "Saint",
    "jr.": "Junior",
    "sr.": "Senior",
    "mt.": "Mount",
    "vs.": "versus",
    "etc.": "et cetera",
    "e.g.": "for example",
    "i.e.": "that is",
    "approx.": "approximately",
    "no.": "number",
    "dept.": "department",
    "est.": "established",
    "inc.": "incorporated",
    "ltd.": "limited",
    "co.": "company",
    "corp.": "corporation",
    "ave.": "Avenue",
    "min.": "minutes",
    "max.": "maximum",
    "fig.": "figure",
}

_SYMBOLS = {
    "&": " and ",
    "@": " at ",
    "%": " percent ",
    "+": " plus ",
    "=": " equals ",
    "#": " number ",
    "°": " degrees ",
    "×": " times ",
    "÷": " divided by ",
    "~": " about ",
    "§": " section ",
    "<": " less than ",
    ">": " greater than ",
    "½": " one half ",
    "¼": " one quarter ",
    "¾": " three quarters ",
}

# Punctuation the voices use for prosody; everything else that is not a letter or digit goes.
_KEPT_PUNCTUATION = set(".,;:!?'\"-()—–…")

_ABBREVIATION_RE = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(a) for a in sorted(_ABBREVIATIONS, key=len, reverse=True)) + r")(?=\s|$)",
    re.IGNORECASE,
)
_GROUPED_NUMBER_RE = re.compile(r"\b\d{1,3}(?:,\d{3})+(?:\.\d+)?\b")
_CURRENCY_RE = re.compile(r"([$€£¥₹])\s?(\d+(?:\.\d+)?)(?:\s?(million|billion|thousand|trillion)\b)?")
_PERCENT_RE = re.compile(r"(\d+(?:\.\d+)?)\s?%")
_ORDINAL_RE = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_DAY_MONTH_RE = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTHS})\b(?:,?\s+(\d{{4}})\b)?")
_MONTH_DAY_RE = re.compile(rf"\b({_MONTHS})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?")
_TIME_RE = re.compile(r"\b(\d{1,2}):(\d{2})\b(?:\s?([ap])\.?m\.?\b)?", re.IGNORECASE)
_YEAR_CONTEXT_RE = re.compile(r"\b(in|since|from|until|till|by|of|year|circa)\s+(1[1-9]\d\d|20\d\d)\b", re.IGNORECASE)
_DECADE_RE = re.compile(r"\b(1[1-9]\d0|20\d0)s\b")
_NEGATIVE_RE = re.compile(r"(?<![\w.])-(\d)")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


# Longer numbers (account numbers, IDs, runs of digits) are read digit by digit.
_MAX_NUMBER_DIGITS = 15
_DIGIT_WORDS = "zero one two three four five six seven eight nine".split()


def _digit_by_digit(digits: str) -> str:
    return " ".join(_DIGIT_WORDS[int(digit)] for digit in digits)


def _cardinal(digits: str) -> str:
    if len(digits) > _MAX_NUMBER_DIGITS:
        return _digit_by_digit(digits)
    # num2words writes "one million, two hundred"; a comma would become a pause.
    return num2words(int(digits)).replace(",", "")


def _ordinal(digits: str) -> str:
    if len(digits) > _MAX_NUMBER_DIGITS:
        return _digit_by_digit(digits)
    return num2words(int(digits), to="ordinal").replace(",", "")


def _say(number: str) -> str:
    """Digits to words; a decimal point is read as 'point' followed by single digits."""
    whole, _, fraction = number.partition(".")
    words = _cardinal(whole)
    if fraction:
        words += " point " + _digit_by_digit(fraction)
    return words


def _abbreviation(match: re.Match[str]) -> str:
    words = _ABBREVIATIONS[match.group(1).lower()]
    # "... and so on, etc." ends the text: its period also ends the sentence.
    return words + "." if match.end() == len(match.string) else words


def _month(name: str) -> str:
    return _MONTH_NAMES.get(name.lower(), name.capitalize())


def _year(match_text: str) -> str:
    return num2words(int(match_text), to="year")


def _currency(match: re.Match[str]) -> str:
    symbol, amount, scale = match.group(1), match.group(2), match.group(3)
    one, many, minor_one, minor_many = _CURRENCIES[symbol]
    if scale:
        return f" {_say(amount)} {scale} {many} "
    whole, _, cents = amount.partition(".")
    words = f"{_cardinal(whole)} {one if whole.lstrip('0') == '1' else many}"
    if cents and len(cents) <= 2 and int(cents.ljust(2, "0")):
        minor = int(cents.ljust(2, "0"))
        words += f" and {num2words(minor)} {minor_one if minor == 1 else minor_many}"
    elif cents and len(cents) > 2:
        words = f"{_say(amount)} {many}"
    return f" {words} "


def _day_month(match: re.Match[str]) -> str:
    day, month, year = match.groups()
    words = f"the {_ordinal(day)} of {_month(month)}"
    return words + (f" {_year(year)}" if year else "")


def _month_day(match: re.Match[str]) -> str:
    month, day, year = match.groups()
    words = f"{_month(month)} {_ordinal(day)}"
    return words + (f" {_year(year)}" if year else "")


def _time(match: re.Match[str]) -> str:
    hours, minutes, half = int(match.group(1)), int(match.group(2)), match.group(3)
    if hours > 23 or minutes > 59:
        return f"{num2words(hours)} {num2words(minutes)}"
    if minutes == 0:
        words = f"{num2words(hours)}" + ("" if half else " o'clock")
    elif minutes < 10:
        words = f"{num2words(hours)} oh {num2words(minutes)}"
    else:
        words = f"{num2words(hours)} {num2words(minutes)}"
    if half:
        words += f" {half.lower()} m"
    return words


def _remove_unspeakable(text: str) -> str:
    """Keep letters of Latin script, digits, whitespace and prosodic punctuation."""
    kept = []
    for char in text:
        if char.isspace():
            kept.append(" ")
        elif char in _KEPT_PUNCTUATION or char.isdigit() and char.isascii():
            kept.append(char)
        elif char.isalpha() and "LATIN" in unicodedata.name(char, ""):
            kept.append(char)
        else:
            kept.append(" ")
    return "".join(kept)


def normalize_text(text: str) -> str:
    """Return `text` with numbers, symbols and abbreviations written out as words."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("’", "'").replace("“", '"').replace("”", '"')
    text = _ABBREVIATION_RE.sub(_abbreviation, text)
    text = _GROUPED_NUMBER_RE.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _CURRENCY_RE.sub(_currency, text)
    text = _PERCENT_RE.sub(lambda m: f"{_say(m.group(1))} percent", text)
    text = _DAY_MONTH_RE.sub(_day_month, text)
    text = _MONTH_DAY_RE.sub(_month_day, text)
    text = _TIME_RE.sub(_time, text)
    text = _YEAR_CONTEXT_RE.sub(lambda m: f"{m.group(1)} {_year(m.group(2))}", text)
    text = _DECADE_RE.sub(
        lambda m: _year(m.group(1))[:-1] + "ies" if _year(m.group(1)).endswith("y") else _year(m.group(1)) + "s", text
    )
    text = _ORDINAL_RE.sub(lambda m: _ordinal(m.group(1)), text)
    text = _NEGATIVE_RE.sub(r"minus \1", text)
    text = _NUMBER_RE.sub(lambda m: f" {_say(m.group(0))} ", text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = _remove_unspeakable(text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def has_speakable_content(text: str) -> bool:
    """True when normalized text holds at least one letter a voice can pronounce."""
    return any(char.isalpha() for char in text)
