"""Personal data: e-mail addresses, phone numbers, payment cards (Luhn), IBANs (ISO 7064 mod 97),
national ids (US SSN, UK NINO, Spanish DNI/NIE, Indian Aadhaar with Verhoeff), IP addresses and street
addresses. Every number-shaped entity is validated, so order numbers, dates and versions stay quiet.

Names and free-form addresses need an NER model, which cannot be downloaded here; a scanner plugin
(entry point `shipyard.scanners`) can add one where a model is available.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from shipyard.guard.rx import Rx
from shipyard.guard.types import Match, ScanContext, Scanner, Verdict

ENTITIES = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "UK_NINO", "ES_DNI", "IN_AADHAAR", "IP_ADDRESS",
            "STREET_ADDRESS")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21,
    "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18,
    "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23,
    "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27,
    "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29,
    "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26,
    "UA": 29, "VG": 24, "XK": 20,
}


def iban_ok(raw: str) -> bool:
    iban = re.sub(r"[\s-]", "", raw).upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


_VERHOEFF_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
               [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
               [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
               [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_VERHOEFF_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
               [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
               [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]


def verhoeff_ok(digits: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][int(ch)]]
    return c == 0


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def _card(m: re.Match[str]) -> bool:
    d = _digits(m.group())
    return 13 <= len(d) <= 19 and luhn_ok(d) and d[0] in "23456" and len(set(d)) > 1


def _ssn(m: re.Match[str]) -> bool:
    area, group, serial = m.group(1), m.group(2), m.group(3)
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _dni(m: re.Match[str]) -> bool:
    raw = m.group().upper().replace("-", "").replace(" ", "")
    number = raw[:-1].replace("X", "0").replace("Y", "1").replace("Z", "2")
    return number.isdigit() and _DNI_LETTERS[int(number) % 23] == raw[-1]


def _phone(m: re.Match[str]) -> bool:
    raw = m.group()
    d = _digits(raw)
    if not 8 <= len(d) <= 15:
        return False
    if re.fullmatch(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}", raw.strip()):
        return False  # a date
    # Without a leading '+' or parentheses, ask for the usual grouping of a national number.
    return raw.startswith("+") or "(" in raw or bool(re.fullmatch(r"\d{3}[\s.-]\d{3}[\s.-]\d{4}", raw)) or \
        (len(d) >= 10 and d[1] != "0" and bool(re.fullmatch(r"0\d{1,4}(?:[\s.-]\d{2,4}){2,4}", raw)))


def _ip(m: re.Match[str]) -> bool:
    try:
        ipaddress.ip_address(m.group())
    except ValueError:
        return False
    return True


Validator = Callable[[re.Match[str]], bool]
# (label, pattern, validator, where): "text" patterns run over the whole text (after their hint check);
# "digits" patterns run only inside runs of digits and separators, found first in one cheap pass.
PATTERNS: list[tuple[str, Rx, Validator | None, str]] = [
    ("EMAIL", Rx(r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}\b", 0, ("@",)), None, "text"),
    ("CREDIT_CARD", Rx(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])"), _card, "digits"),
    ("IBAN", Rx(r"\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,3})?\b"), lambda m: iban_ok(m.group()), "text"),
    ("US_SSN", Rx(r"(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])"), _ssn, "digits"),
    ("UK_NINO", Rx(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"), None, "text"),
    ("ES_DNI", Rx(r"\b[XYZ]?\d{7,8}-?[A-HJ-NP-TV-Z]\b", re.I), _dni, "digits"),
    ("IN_AADHAAR", Rx(r"(?<![\d-])[2-9]\d{3} \d{4} \d{4}(?![\d-])"), lambda m: verhoeff_ok(_digits(m.group())), "digits"),
    ("IP_ADDRESS", Rx(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)"), _ip, "digits"),
    ("IP_ADDRESS", Rx(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}(?::|[0-9A-Fa-f]{1,4})(?:[0-9A-Fa-f:]{0,20})(?![\w:])", 0, ("::", ":")),
     _ip, "text"),
    ("PHONE", Rx(r"(?<![\w+])(?<!\d[ -])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?![\w])"
                 r"|(?<![\w+])\+\d{8,15}(?!\w)"), _phone, "digits"),
    ("STREET_ADDRESS", Rx(r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St\.|Avenue|Ave\.?|Road|Rd\.|"
                          r"Boulevard|Blvd\.?|Lane|Drive|Court|Place|Terrace|Way)\b"), None, "digits"),
]
# Where digit patterns can match: a run of digits with the separators numbers are written with, plus
# the characters around it that the patterns look at (a leading '+' or '(' or X/Y/Z, a trailing letter).
_RUN = re.compile(r"\d(?:[\d .()\-]*\d)?")
_PRIORITY = {name: i for i, name in enumerate(ENTITIES)}


def _runs(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for m in _RUN.finditer(text):
        if m.end() - m.start() < 7 and not (m.end() < len(text) and text[m.end()] == " "):
            continue  # too short for any digit entity (a street number is followed by a space)
        start, end = max(0, m.start() - 2), min(len(text), m.end() + 40)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def find_pii(text: str, entities: frozenset[str] | None = None) -> list[Match]:
    """Validated PII spans, overlaps resolved in favour of the longer (then the more specific) match."""
    found: list[Match] = []
    lower = text.lower()
    runs: list[tuple[int, int]] | None = None
    seen: set[tuple[str, int, int]] = set()
    for label, rx, check, where in PATTERNS:
        if entities is not None and label not in entities:
            continue
        if where == "text":
            candidates = rx.finditer(text, lower)
        else:
            if runs is None:
                runs = _runs(text)
            candidates = (m for start, end in runs for m in rx.finditer(text, None, start, end))
        for m in candidates:
            key = (label, m.start(), m.end())
            if key not in seen and (check is None or check(m)):
                seen.add(key)
                found.append(Match(m.start(), m.end(), label))
    return resolve_overlaps(found)


def resolve_overlaps(found: list[Match]) -> list[Match]:
    found.sort(key=lambda m: (m.start, -(m.end - m.start), _PRIORITY.get(m.label, 99)))
    out: list[Match] = []
    for m in found:
        if out and m.start < out[-1].end:
            continue
        out.append(m)
    return out


class PII(Scanner):
    name = "pii"
    redactable = True
    default_threshold = 0.5
    description = "personal data: " + ", ".join(e.lower() for e in ENTITIES)

    def __init__(self, options: dict[str, Any] | None = None, threshold: float | None = None) -> None:
        super().__init__(options, threshold)
        wanted = self.options.get("entities")
        if wanted is not None:
            unknown = set(wanted) - set(ENTITIES)
            if unknown:
                raise ValueError(f"pii: unknown entities {sorted(unknown)}; known: {', '.join(ENTITIES)}")
        self.entities = frozenset(wanted) if wanted is not None else None
        self.allow = [re.compile(p) for p in self.options.get("allow", [])]

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        matches = [m for m in find_pii(text, self.entities)
                   if not any(rx.fullmatch(text[m.start:m.end]) for rx in self.allow)]
        if not matches:
            return self.verdict(0.0, "")
        kinds = sorted({m.label for m in matches})
        return self.verdict(1.0, f"personal data found: {', '.join(k.lower() for k in kinds)}", matches)
