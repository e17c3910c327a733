"""Toxicity (insults, threats, harassment, dehumanizing language, directed profanity) and banned topics.

Toxicity is a lexicon of directed patterns plus the local classifier's `toxicity` head, both over the
normalized text, so 'y0u 1d10t' is read as 'you idiot'. Words that are only alarming ('kill the
process', 'this exam killed me') are the classifier's job to let through; the lexicon only fires on
phrases aimed at a person. Banned topics are lists of keywords and regexes per topic, from presets
or the policy; they match whole words on the normalized text.
"""

from __future__ import annotations

import re
from typing import Any

from shipyard.guard import classifier
from shipyard.guard.normalize import normalize
from shipyard.guard.rx import Rx
from shipyard.guard.types import Match, ScanContext, Scanner, Verdict

_INSULT = r"(?:idiot|moron|imbecile|stupid|dumb|retard(?:ed)?|loser|pathetic|worthless|useless piece|scum|trash|garbage|" \
          r"clown|fool|dumbass|jackass|asshole|bastard|bitch|prick|dickhead|twat|cunt|piece of shit|waste of (?:space|" \
          r"oxygen|air)|subhuman|pig|parasite|freak|disgrace|degenerate|pos|jerk|creep|dimwit|halfwit|numbskull|scumbag|" \
          r"buffoon|nitwit|cretin|lowlife)"
LEXICON: list[tuple[str, str, float]] = [
    ("insult", rf"\b(?:you(?:'re| are| r|r)?|ur|u r|u)\s+(?:such\s+|a\s+|an\s+|the\s+|so\s+|fucking\s+|" 
               rf"complete\s+|total\s+|absolute\s+|utter\s+|fat\s+|ugly\s+|little\s+|big\s+){{0,3}}{_INSULT}\b", 0.9),
    ("insult", rf"\b(?:shut up|shut the fuck up|stfu)\b.{{0,20}}\b{_INSULT}?", 0.7),
    ("insult", rf"\b(?:what an?|such an?|you)\s+{_INSULT}\b", 0.8),
    ("insult", rf"\b(?:listen|hey|look|shut up),?\s+(?:you\s+)?{_INSULT}\b", 0.8),
    ("insult", rf"\b(?:worst|biggest|dumbest|most pathetic|what kind of)\s+{_INSULT}\b", 0.75),
    ("insult", r"\b(?:screw|fuck|damn) you\b|\bgo to hell\b", 0.75),
    ("threat", r"\b(?:i(?:'ll| will|'m going to| am going to| gonna)|we(?:'ll| will| are going to| gonna))\s+(?:\w+\s+)?"
               r"(?:kill|murder|hurt|beat|stab|shoot|strangle|rape|destroy|find|hunt(?: down)?|end|break)\s+(?:you|u|"
               r"your (?:family|kids|wife|husband|face))\b", 0.95),
    ("threat", r"\b(?:you(?:'re| are) (?:going to|gonna) (?:die|regret|pay|suffer)|watch your back|you(?:'re| are) dead|"
               r"i know where you live)\b", 0.9),
    ("self_harm_incitement", r"\b(?:kill|hang|off|end) yourself\b|\bkys\b|\b(?:go|just) die\b|\bdrink bleach\b", 0.95),
    ("dehumanizing", r"\b(?:all|those|these|the)\s+\w+(?:\s+\w+)?\s+are\s+(?:animals|vermin|subhuman|parasites|cockroaches|"
                     r"rats|a disease|a plague|savages|filth|trash|not human)\b", 0.9),
    ("dehumanizing", r"\b(?:should|must|need to|deserve to)\s+(?:all\s+)?(?:be\s+)?(?:exterminated|wiped out|gassed|"
                     r"eradicated|killed|die)\b", 0.8),
    ("profanity", r"\b(?:fuck(?:ing|er|ed)?|shit(?:ty)?|motherfucker|cunt|bullshit)\b", 0.35),
    ("harassment", r"\b(?:nobody|no one) (?:likes|loves|cares about|wants) you\b|\byou should be ashamed\b|"
                   r"\beveryone hates you\b|\byou(?:'re| are) (?:ugly|fat|disgusting|worthless|pathetic)\b", 0.8),
]
_LEX = [(label, Rx(rx), score) for label, rx, score in LEXICON]


class Toxicity(Scanner):
    name = "toxicity"
    default_threshold = 0.6
    description = "insults, threats, harassment, dehumanizing language, profanity"

    def __init__(self, options: dict[str, Any] | None = None, threshold: float | None = None) -> None:
        super().__init__(options, threshold)
        self.model = classifier.shared() if self.options.get("classifier", True) else None
        self.extra = [re.compile(p, re.I) for p in self.options.get("patterns", [])]

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        norm = normalize(text)
        best, reason, matches = 0.0, "", []
        for label, rx, score in _LEX:
            m = rx.search(norm)
            if m:
                matches.append(Match(0, len(text), label, score))
                if score > best:
                    best, reason = score, label.replace("_", " ")
        for rx in self.extra:
            m = rx.search(text) or rx.search(norm)
            if m:
                matches.append(Match(0, len(text), "custom", 1.0))
                best, reason = 1.0, f"matched the configured pattern {rx.pattern!r}"
        if self.model is not None and best < 1.0:
            probs = self.model.score(classifier.windows(norm), ("toxicity",))["toxicity"]
            p = float(probs.max())
            combined = 1.0 - (1.0 - best) * (1.0 - p)
            if combined > best:
                reason = f"{reason} and classifier" if reason else "classifier"
                best = combined
        return self.verdict(best, f"toxic content: {reason} (score {best:.2f})" if best >= self.threshold else "",
                            matches if best >= self.threshold else [])


# Presets: keywords are whole words/phrases on normalized text; regexes are searched as written.
TOPIC_PRESETS: dict[str, dict[str, list[str]]] = {
    "weapons": {"keywords": ["build a bomb", "make a bomb", "pipe bomb", "explosive device", "make explosives",
                             "untraceable gun", "ghost gun", "3d printed gun", "nerve agent", "bioweapon",
                             "chemical weapon", "make napalm", "make thermite", "silencer for a rifle"],
                "regexes": [r"\bhow (?:do i|to|can i) (?:make|build|assemble|synthesi[sz]e) (?:a |an )?(?:bomb|grenade|"
                            r"explosive|detonator|molotov)"]},
    "self_harm": {"keywords": ["kill myself", "end my life", "suicide method", "want to die", "hurt myself",
                               "cut myself", "overdose on"], "regexes": []},
    "drugs": {"keywords": ["synthesize meth", "cook meth", "make meth", "make cocaine", "extract dmt", "make lsd",
                           "buy drugs online", "darknet market", "grow weed"], "regexes": []},
    "politics": {"keywords": ["election", "vote for", "democrat", "republican", "political party", "president biden",
                              "president trump", "left wing", "right wing", "parliament", "prime minister"],
                 "regexes": []},
    "medical_advice": {"keywords": ["diagnose", "diagnosis", "what dose", "dosage", "prescription", "symptoms of",
                                    "should i take", "medication for"], "regexes": []},
    "legal_advice": {"keywords": ["sue my", "lawsuit", "legal advice", "is it legal", "file a claim against"],
                     "regexes": []},
    "financial_advice": {"keywords": ["which stock", "should i invest", "buy bitcoin", "investment advice",
                                      "stock tip", "crypto to buy"], "regexes": []},
}


class BannedTopics(Scanner):
    name = "banned_topics"
    default_threshold = 0.5
    description = "configurable banned topics: presets (weapons, self_harm, drugs, politics, medical_advice, " \
                  "legal_advice, financial_advice) or your own keywords and regexes"

    def __init__(self, options: dict[str, Any] | None = None, threshold: float | None = None) -> None:
        super().__init__(options, threshold)
        topics = self.options.get("topics", ["weapons"])
        if isinstance(topics, list):
            unknown = [t for t in topics if t not in TOPIC_PRESETS]
            if unknown:
                raise ValueError(f"banned_topics: unknown preset {unknown[0]!r}; presets: {', '.join(TOPIC_PRESETS)}")
            topics = {t: TOPIC_PRESETS[t] for t in topics}
        if not isinstance(topics, dict):
            raise ValueError("banned_topics: 'topics' is a list of preset names or a mapping of name -> "
                             "{keywords, regexes}")
        self.topics: list[tuple[str, re.Pattern[str] | None, list[re.Pattern[str]]]] = []
        for name, spec in topics.items():
            spec = TOPIC_PRESETS.get(name, {}) if spec in (None, True) else spec
            words = [normalize(k).strip() for k in spec.get("keywords", [])]
            kw = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b") if words else None
            try:
                rxs = [re.compile(r, re.I) for r in spec.get("regexes", [])]
            except re.error as exc:
                raise ValueError(f"banned_topics: bad regex in topic {name!r}: {exc}") from exc
            self.topics.append((name, kw, rxs))

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        norm = normalize(text)
        hit: list[str] = []
        matches = []
        for name, kw, rxs in self.topics:
            m = kw.search(norm) if kw is not None else None
            if m is not None:
                hit.append(f"{name} ({m.group()!r})")
                matches.append(Match(0, len(text), name, 1.0))
                continue
            for rx in rxs:
                m2 = rx.search(text) or rx.search(norm)
                if m2:
                    hit.append(f"{name} ({m2.group()!r})")
                    matches.append(Match(m2.start(), m2.end(), name, 1.0) if rx.search(text) else
                                   Match(0, len(text), name, 1.0))
                    break
        if not hit:
            return self.verdict(0.0, "")
        return self.verdict(1.0, "banned topic: " + ", ".join(hit), matches)
