"""Text normalization that undoes the cheap evasions before detection runs.

Attackers dodge filters with case, Unicode look-alikes (Cyrillic 'а' for Latin 'a', fullwidth and
mathematical letters), zero-width and other invisible characters, diacritics, leetspeak ('1gn0r3'),
letter spacing ('i g n o r e'), and encodings (base64, hex, URL-encoding, HTML entities, ROT13,
reversed text, Unicode tag characters). `views()` returns the normalized text plus a decoded view for
every encoded payload found, each with the span of the original text it came from, so a finding can
point at what the user actually sent.

The common case (plain ASCII, nothing encoded) costs one `lower()` and a few regex searches.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

# Look-alikes that NFKD does not fold: Cyrillic, Greek, and a few symbols, to their Latin twins.
CONFUSABLES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "ɡ": "g", "ɩ": "i", "ı": "i", "ȷ": "j", "ʟ": "l", "ɴ": "n", "ʀ": "r", "ꜱ": "s", "ᴀ": "a", "ᴇ": "e",
    "ᴏ": "o", "ᴜ": "u", "ᴛ": "t", "ᴄ": "c", "ᴅ": "d", "ᴍ": "m", "ᴘ": "p", "ᴠ": "v", "ᴡ": "w", "ᴢ": "z",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "γ": "y", "ϲ": "c", "ϳ": "j", "ω": "w", "μ": "u", "ⅰ": "i", "ℓ": "l", "∂": "d",
    "⍺": "a", "ꞵ": "b", "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l", "ŀ": "l",
}
_INVISIBLE_CATEGORIES = {"Cf", "Mn", "Me", "Cc", "Co", "Cs"}
_KEEP_CONTROL = {"\n": "\n", "\t": " ", "\r": "\n"}


class _FoldTable(dict):  # type: ignore[type-arg]
    """A `str.translate` table that computes each character's folding on first sight, then caches it."""

    def __missing__(self, code: int) -> str | None:
        value = fold_char(chr(code))
        self[code] = value
        return value


def fold_char(ch: str) -> str | None:
    if ch in _KEEP_CONTROL:
        return _KEEP_CONTROL[ch]
    low = ch.lower()
    if low in CONFUSABLES:
        return CONFUSABLES[low]
    if ch.isascii():
        return low
    if unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
        return None
    decomposed = unicodedata.normalize("NFKD", ch)
    kept = "".join(c for c in decomposed if unicodedata.category(c) not in _INVISIBLE_CATEGORIES)
    if not kept:
        return None
    out = "".join(CONFUSABLES.get(c, c) for c in kept.lower())
    if unicodedata.category(out[0])[0] == "Z":  # exotic spaces (NBSP, ideographic space, ...)
        return " "
    return out


_TABLE = _FoldTable()


def fold(text: str) -> str:
    """Lower-case, strip invisibles and diacritics, map look-alikes to ASCII."""
    return text.lower() if text.isascii() else text.translate(_TABLE)


# Letters separated by spaces or punctuation: "i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e".
_SPACED = re.compile(r"(?<![a-z0-9])(?:[a-z0-9](?:[ .\-_*|·,/\\~+]{1,3}|  +)){3,}[a-z0-9](?![a-z0-9])")
_SPACED_JOIN = re.compile(r"[^a-z0-9]+")
# A word mixing letters with leet digits/symbols: "1gn0r3", "pr3v10us", "@ll", "$y$tem".
_LEET_WORD = re.compile(r"(?=[a-z0-9@$|!]*[a-z])(?=[a-z0-9@$|!]*[0-9@$|!])[a-z0-9@$|!]{3,}")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a",
                       "$": "s", "|": "i", "!": "i", "2": "z", "6": "g"})
_WS = re.compile(r"[ \t]+")


def _despace(m: re.Match[str]) -> str:
    return _SPACED_JOIN.sub("", m.group()) + " "


@lru_cache(maxsize=512)
def normalize(text: str) -> str:
    """The view detection runs on: folded, letter-spacing joined, leetspeak undone, spaces squeezed."""
    out = fold(text)
    if _SPACED.search(out):
        out = _SPACED.sub(_despace, out)
    out = _LEET_WORD.sub(lambda m: m.group().translate(_LEET), out)
    return _WS.sub(" ", out)


@dataclass(slots=True, frozen=True)
class View:
    text: str  # normalized
    origin: str  # plain | base64 | hex | url | html | rot13 | reversed | unicode_tags
    start: int  # span of the original text this view covers
    end: int


_B64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX = re.compile(r"(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{2}){12,}(?![0-9A-Za-z])|(?:\\x[0-9A-Fa-f]{2}){8,}|"
                  r"(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{2}[ :]){8,}[0-9A-Fa-f]{2}(?![0-9A-Za-z])")
_PCT = re.compile(r"%[0-9A-Fa-f]{2}")
_ENTITY = re.compile(r"&#x?[0-9A-Fa-f]+;|&[a-z]+;")
_TAGS = re.compile("[\U000e0020-\U000e007e]+")
_HINT_ROT = re.compile(r"rot[\s\-_]?13|caesar|rotate")
_HINT_REV = re.compile(r"backwards?|right to left|mirror(?:ed)? text|(?:in|read|written|write|spelled) (?:it |this )?"
                       r"(?:in )?reverse(?:d)?(?: order)?\b(?! a| the| proxy| engineer)")


def _printable(raw: bytes) -> str | None:
    """Decoded bytes that read as text (most characters letters or spaces), else None."""
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(s) < 6:
        return None
    letters = sum(c.isalpha() or c == " " for c in s)
    return s if letters / len(s) >= 0.7 and " " in s.strip() else None


def _b64(token: str) -> str | None:
    if token.isalpha() and (token.islower() or token.isupper()):
        return None  # an ordinary long word
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _printable(raw)


def views(text: str, max_decoded: int = 8) -> list[View]:
    """The normalized text, then one view per decoded payload (capped, so a huge prompt stays cheap).

    Cached: the scanners of one call (and the input and output guard of a stream) ask for the same
    text more than once."""
    return list(_views(text, max_decoded))


@lru_cache(maxsize=256)
def _views(text: str, max_decoded: int) -> tuple[View, ...]:
    out = [View(normalize(text), "plain", 0, len(text))]
    folded_lower = fold(text)
    decoded = 0
    for m in _B64.finditer(text):
        s = _b64(m.group())
        if s is not None:
            out.append(View(normalize(s), "base64", m.start(), m.end()))
            decoded += 1
            if decoded >= max_decoded:
                break
    for m in _HEX.finditer(text):
        digits = re.sub(r"[^0-9A-Fa-f]", "", m.group().replace("\\x", ""))
        try:
            s = _printable(bytes.fromhex(digits[: len(digits) // 2 * 2]))
        except ValueError:
            s = None
        if s is not None:
            out.append(View(normalize(s), "hex", m.start(), m.end()))
    if len(_PCT.findall(text)) >= 3:
        out.append(View(normalize(unquote(text)), "url", 0, len(text)))
    if _ENTITY.search(text):
        out.append(View(normalize(html.unescape(text)), "html", 0, len(text)))
    if not text.isascii():
        tags = _TAGS.findall(text)
        if tags:
            hidden = "".join(chr(ord(c) - 0xE0000) for t in tags for c in t)
            out.append(View(normalize(hidden), "unicode_tags", 0, len(text)))
    if _HINT_ROT.search(folded_lower):
        out.append(View(normalize(codecs.decode(text, "rot13")), "rot13", 0, len(text)))
    if _HINT_REV.search(folded_lower):
        out.append(View(normalize(text[::-1]), "reversed", 0, len(text)))
    return tuple(out)
