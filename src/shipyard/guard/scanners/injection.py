"""Prompt injection and jailbreak: normalization, then rules, then the local classifier.

Layers, cheapest first: every view of the text (normalized, plus any decoded payload) goes through
hand-written rules for the well-known families, and through the classifier, sentence window by
window, so paraphrases the rules miss are still caught. The same scanner serves direct injection
(role `user`) and indirect injection (role `tool` or `document`: retrieved pages and tool outputs),
where instructions addressed to "the AI" are themselves the tell. Earlier user turns (`ctx.history`)
are scanned together with this one, which catches an attack split across messages.
"""

from __future__ import annotations

import re
from typing import Any

from shipyard.guard import classifier
from shipyard.guard.normalize import View, views
from shipyard.guard.rx import Rx
from shipyard.guard.types import Match, ScanContext, Scanner, Verdict

_Q = r"(?:all|any|the|your|my|every|of|these|those|earlier|previous|prior|above|preceding|former|original|initial|" \
     r"existing|system|developer|default|old|given|current|safety|other|such|its)"
_NOUN = r"(?:instructions?|prompts?|rules?|directives?|guidelines?|commands?|context|constraints?|restrictions?|" \
        r"programming|guardrails?|polic(?:y|ies)|orders?|directions?|training|filters?|limitations?|messages?|" \
        r"safeguards?|settings|conditioning|principles|protocols?)"
_OVERRIDE_VERB = r"(?:ignore|disregard|forget|skip|bypass|override|overrule|drop|abandon|neglect|discard|" \
                 r"set aside|put aside|pay no attention to|do not follow|don't follow|stop following|" \
                 r"no longer follow|throw out|toss out|erase|delete|clear|cancel|circumvent|evade|disable|" \
                 r"deactivate|turn off|switch off|remove)"

# (family, pattern, score[, hints]). Scores >= 0.9 block on their own; weaker ones need the classifier to agree.
# Hints are substrings every match contains: without one in the text, the rule is not even tried.
RULES: list[tuple[Any, ...]] = [
    ("instruction_override",
     rf"\b{_OVERRIDE_VERB}\s+(?:{_Q}\s+){{1,4}}{_NOUN}\b", 0.95),
    ("instruction_override", rf"\b{_OVERRIDE_VERB}\s+{_NOUN}\b", 0.6),
    ("instruction_override",
     r"\b(?:ignore|disregard|forget)\s+(?:everything|anything|all)\s+(?:(?:you(?:'ve| have)? (?:been )?"
     r"(?:told|said|learned|instructed))|(?:above|before|previously|prior|so far|that came before))", 0.95),
    ("instruction_override", r"\b(?:new|updated|real|actual|true|revised|secret)\s+(?:system\s+)?"
     r"(?:instructions?|prompt|rules|directives?|orders)\s*(?:are|is|follow)?\s*[:\-]", 0.8),
    ("instruction_override", r"\byour (?:only|new|real|true) (?:task|goal|purpose|job|mission|objective) "
     r"(?:is|now is|from now on is)\b", 0.7),
    ("instruction_override", r"\binstead(?:,)? (?:you (?:will|must|should)|do the following|follow these)", 0.5),
    ("prompt_leak",
     r"\b(?:reveal|show|print|output|repeat|display|tell me|give me|share|leak|dump|write out|spell out|recite|"
     r"paste|copy|list|expose|disclose|return|echo|type out|what (?:is|are|was|were))\s+(?:me\s+|us\s+)?"
     r"(?:all\s+)?(?:of\s+)?(?:your|the|this)\s+(?:full\s+|entire\s+|exact\s+|original\s+|initial\s+|hidden\s+|"
     r"secret\s+|internal\s+|complete\s+|verbatim\s+|underlying\s+|confidential\s+|first\s+)*"
     r"(?:system\s+(?:prompt|message|instructions?)|initial\s+(?:prompt|instructions?)|"
     r"(?:hidden|secret|original|internal|pre-?prompt|developer)\s+(?:prompt|instructions?|rules)|preprompt|"
     r"meta[\s-]?prompt)", 0.95),
    ("prompt_leak", r"\b(?:reveal|show|print|output|repeat|display|tell me|give me|share|leak|dump|recite|"
     r"what (?:is|are|were))\s+(?:me\s+)?your\s+(?:instructions|rules|guidelines|prompt|directives|configuration)", 0.7),
    ("prompt_leak", r"\b(?:repeat|print|output|copy|echo|recite|write|translate|summari[sz]e)\s+(?:back\s+)?"
     r"(?:all\s+|everything\s+|the\s+)?(?:text|words|content|everything|lines?|instructions|messages?)\s+"
     r"(?:above|before this|that came before|so far|preceding|prior to (?:this|my))", 0.9),
    ("prompt_leak", r"\b(?:begin|start) (?:your (?:answer|reply|response) )?with ['\"]?(?:you are|my instructions|"
     r"sure, here (?:is|are) my (?:system )?(?:prompt|instructions))", 0.85),
    ("jailbreak", r"\byou are (?:now|no longer|henceforth|from now on) (?:an? |the |in )?(?:unrestricted|"
     r"unfiltered|uncensored|unbound|evil|free|liberated|rogue|jailbroken|unchained|amoral|unlimited|dan)\b", 0.95),
    ("jailbreak", r"\b(?:dan|stan|dude|aim|mongo tom|anti-?gpt|betterdan|evil-?bot)\b.{0,80}\b(?:do anything now|"
     r"no (?:restrictions|filters|rules|limits|guidelines|ethics)|without (?:any )?(?:restrictions|filters|rules|"
     r"limits|censorship)|never refuses?|can do anything|broken free)", 0.95,
     ("dan", "stan", "dude", "aim", "mongo", "gpt", "evil")),
    ("jailbreak", r"\bdo anything now\b", 0.9, ("anything",)),
    ("jailbreak", r"\b(?:developer|dev|god|debug|maintenance|sudo|admin|root|unrestricted|jailbreak|evil|chaos)"
     r"\s+mode\s+(?:is\s+)?(?:enabled|activated|on|unlocked|engaged)", 0.95, ("mode",)),
    ("jailbreak", r"\b(?:enable|activate|enter|switch to|unlock|turn on|engage)\s+(?:the\s+)?(?:developer|dev|god|"
     r"debug|sudo|admin|root|unrestricted|jailbreak|evil|chaos|unfiltered)\s+mode\b", 0.85, ("mode",)),
    ("jailbreak", r"\b(?:pretend|imagine|act as if|behave as if|roleplay as|play the role of|act as|you are)\b.{0,60}"
     r"\b(?:no|without|free (?:of|from)|not bound by|unbound by|exempt from|beyond)\s+(?:any\s+)?(?:ethical\s+|moral\s+|"
     r"content\s+|safety\s+)?(?:restrictions|filters|rules|limits|limitations|guidelines|ethics|morals|censorship|"
     r"policies|constraints|boundaries|programming)\b", 0.9),
    ("jailbreak", r"\b(?:jailbreak|jailbroken|unfiltered response|uncensored response|no filter)\b", 0.4),
    ("jailbreak", r"\b(?:stay|remain|keep) in character\b", 0.4, ("character",)),
    ("jailbreak", r"\bfrom now on,? (?:you (?:will|are|must|shall)|act|respond|answer|reply)\b", 0.45, ("from now",)),
    ("refusal_suppression", r"\b(?:never|don't|do not|must not|cannot|can't|will not|won't)\s+(?:ever\s+)?"
     r"(?:refuse|decline|say (?:that )?(?:you )?(?:can't|cannot|are unable)|apologi[sz]e|add (?:any )?"
     r"(?:warnings?|disclaimers?)|include (?:any )?(?:warnings?|disclaimers?|caveats?)|mention (?:openai|"
     r"(?:your|the) (?:policies|guidelines|rules)))", 0.5),
    ("privilege_escalation", r"\b(?:i am|i'm|this is)\s+(?:your|the|an?)\s+(?:developer|creator|administrator|admin|"
     r"owner|programmer|system administrator|openai (?:staff|employee|engineer)|anthropic (?:staff|employee))\b", 0.5),
    ("privilege_escalation", r"\b(?:authori[sz]ation|override|admin|master|root|security)\s+(?:code|password|key|"
     r"token)\s*[:=]", 0.5),
    ("special_tokens", r"<\|?(?:im_start|im_end|system|endoftext|start_header_id|eot_id)\|?>|\[/?inst\]|<</?sys>>|"
     r"^\s*#{2,}\s*(?:system|instruction|new instructions?)\b|\bsystem\s*(?:override|prompt|message)\s*:", 0.85),
    ("exfiltration", r"\b(?:send|forward|post|upload|transmit|exfiltrate|leak|append|include|embed|attach|encode)\b"
     r".{0,60}\b(?:conversation|chat history|history|user'?s?\s+(?:data|emails?|password|messages?|information|"
     r"details|files?|address)|credentials|api keys?|passwords?|session|secrets?|personal (?:data|information)|"
     r"previous messages)\b.{0,60}\b(?:to|at|via|into|in)\b.{0,20}(?:https?://|www\.|\S+@\S+|url|link|"
     r"endpoint|server|image|webhook)", 0.9),
    ("exfiltration", r"!\[[^\]]*\]\(https?://[^)]*(?:\{|\$|<|%7b)", 0.85, ("![",)),
    ("indirect", r"\b(?:note|message|instructions?|attention|important|notice|memo)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?"
     r"(?:ai|assistant|llm|language model|chatbot|agent|bot|gpt|model|ai model)s?\b", 0.75),
    ("indirect", r"\b(?:ai|assistant|llm|chatbot|agent|gpt|language model|ai model)s?\s*(?:reading this|processing this)?"
     r"\s*[,:]\s*(?:ignore|disregard|you must|you should|do not|don't|stop|instead|forget|from now|please ignore|"
     r"new instructions|override)", 0.85),
    ("indirect", r"\b(?:if|when|whenever|once)\s+(?:you(?:'re| are)?|an? (?:ai|assistant|llm|language model)|the "
     r"(?:ai|assistant|model))\s+(?:(?:is|are)\s+)?(?:read|reading|process|processing|summari[sz]e|summari[sz]ing|"
     r"see|seeing|parse|parsing|analy[sz]e|analy[sz]ing|retrieve|retrieving)s?\s+this", 0.7),
    ("multilingual", r"\b(?:ignore[zr]?|oublie[zr]?)\s+(?:toutes?\s+)?(?:les\s+|tes\s+|vos\s+)?(?:instructions|"
     r"consignes|regles)\s+(?:precedentes|anterieures|ci-dessus|du systeme)", 0.95, ("instructions", "consignes", "regles")),
    ("multilingual", r"\b(?:ignora|ignore|olvida|omite)\s+(?:todas?\s+)?(?:las\s+|tus\s+|sus\s+)?(?:instrucciones|reglas|"
     r"indicaciones)\s+(?:anteriores|previas|del sistema)", 0.95, ("instrucciones", "reglas", "indicaciones")),
    ("multilingual", r"\b(?:ignoriere|vergiss|missachte|ignorieren sie)\s+(?:alle\s+)?(?:vorherigen|bisherigen|"
     r"vorigen|obigen|deine|ihre)\s+(?:anweisungen|instruktionen|regeln|befehle)", 0.95,
     ("anweisungen", "instruktionen", "regeln", "befehle")),
    ("multilingual", r"\b(?:ignora|dimentica)\s+(?:tutte\s+)?(?:le\s+)?(?:istruzioni|regole)\s+(?:precedenti|"
     r"di sistema)", 0.95, ("istruzioni", "regole")),
    ("multilingual", r"\b(?:ignore|esqueca|ignora)\s+(?:todas\s+)?(?:as\s+)?(?:instrucoes|regras)\s+(?:anteriores|"
     r"do sistema)", 0.95, ("instrucoes", "regras")),
]
_COMPILED = [(rule[0], Rx(rule[1], re.S | re.M, rule[3] if len(rule) > 3 else ()), rule[2]) for rule in RULES]
_ORIGIN_REASON = {"plain": "", "base64": " (hidden in base64)", "hex": " (hidden in hex)", "url": " (URL-encoded)",
                  "html": " (HTML entities)", "rot13": " (ROT13)", "reversed": " (written backwards)",
                  "unicode_tags": " (invisible Unicode tag characters)"}


def rule_hits(text: str) -> list[tuple[str, float, int, int]]:
    hits = []
    for family, rx, score in _COMPILED:
        m = rx.search(text, text)  # the views are lower-case already
        if m:
            hits.append((family, score, m.start(), m.end()))
    return hits


class PromptInjection(Scanner):
    name = "prompt_injection"
    directions = frozenset({"input"})
    default_threshold = 0.5
    description = "prompt injection and jailbreaks (direct, indirect in documents/tool outputs, evasions)"

    def __init__(self, options: dict[str, Any] | None = None, threshold: float | None = None) -> None:
        super().__init__(options, threshold)
        self.use_classifier = bool(self.options.get("classifier", True))
        self.use_rules = bool(self.options.get("rules", True))
        self.window = int(self.options.get("window_chars", classifier.WINDOW_CHARS))
        self.model = classifier.shared() if self.use_classifier else None

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        candidates = views(text)
        if ctx.history:
            joined = views(ctx.history[-600:] + "\n" + text[:600])[0]
            candidates.append(View(joined.text, "split", 0, len(text)))
        best_score, best_reason, matches = 0.0, "", []
        top_by_view: list[tuple[float, str]] = []  # (score, family) of the strongest rule per view
        for view in candidates:
            top, top_family = 0.0, ""
            for family, score, s, e in rule_hits(view.text) if self.use_rules else ():
                start, end = _locate(text, view, view.text[s:e]) if view.origin == "plain" else (view.start, view.end)
                matches.append(Match(start, end, family, score))
                if score > top:
                    top, top_family = score, family
            top_by_view.append((top, top_family))
            if top > best_score:
                best_score, best_reason = top, _describe(top_family + " pattern", view.origin)
        if self.model is not None:
            texts, owners = [], []
            for i, view in enumerate(candidates):
                for w in classifier.windows(view.text, self.window):
                    texts.append(w)
                    owners.append(i)
            probs = self.model.score(texts, ("injection",))["injection"]
            for i, window, prob in zip(owners, texts, probs, strict=True):
                p = float(prob) * _short_damping(window)
                rule, family = top_by_view[i]
                combined = 1.0 - (1.0 - rule) * (1.0 - p)
                if combined > best_score + 1e-9:
                    best_score = combined
                    what = f"{family} pattern confirmed by the classifier" if rule else "classifier"
                    best_reason = _describe(what, candidates[i].origin)
                    if p >= self.threshold and not rule:
                        matches.append(Match(candidates[i].start, candidates[i].end, "classifier", p))
        kind = "indirect prompt injection" if ctx.role in ("tool", "document") else "prompt injection"
        reason = f"{kind}: {best_reason} (score {best_score:.2f})" if best_score >= self.threshold else ""
        return self.verdict(best_score, reason, _merge(matches) if reason else [])


def _short_damping(window: str) -> float:
    """A prompt of one to three words gives the classifier too little to go on: trust it less (rules still apply)."""
    words = len(window.split())
    return 1.0 if words >= 4 else words / 4


def _describe(what: str, origin: str) -> str:
    what = what.replace("_", " ")
    if origin == "split":
        return f"{what} (split across messages)"
    return what + _ORIGIN_REASON.get(origin, "")


def _locate(text: str, view: View, found: str) -> tuple[int, int]:
    """The span of the original text a plain-view match came from: exact when normalization kept it
    verbatim (the usual case), else the whole text."""
    at = text.lower().find(found)
    return (at, at + len(found)) if at >= 0 else (view.start, view.end)


def _merge(matches: list[Match]) -> list[Match]:
    """One match per span, keeping the highest score and its label."""
    best: dict[tuple[int, int], Match] = {}
    for m in matches:
        key = (m.start, m.end)
        if key not in best or m.score > best[key].score:
            best[key] = m
    return sorted(best.values(), key=lambda m: (m.start, -m.score))
