"""Known preferences ("rules") that simulated labelers, the evaluate step and bench/loop_bench.py
share: one score per answer (higher is preferred, equal scores tie) and whether an answer
satisfies the rule (the ground-truth rate of a policy). Pure Python, no Django, no torch.

    rule = parse_rule("not:keyword:sorry")
    rule.score("I am sorry")          # 0.0  (higher is better)
    rule.satisfied("Sure, here it is")  # True
    rule_rate(rule, answers)          # share of answers satisfying it

Rules:
    shorter          fewer words rank higher; satisfied by an answer of at most SHORT_WORDS words
    longer           more words rank higher; satisfied by an answer of more than SHORT_WORDS words
    keyword:WORD     answers containing WORD (a whole word, case-insensitive) rank higher
    regex:PATTERN    answers matching PATTERN (Python re, MULTILINE) rank higher
    not:RULE         the opposite preference of RULE
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# SmolLM2 answers with 48-64 new tokens run to 35-50 words; one that stops by 20 words is short.
SHORT_WORDS = 20
MAX_RULE_LENGTH = 500
RULES_HELP = ("shorter (fewer words win; satisfied at most 20 words), longer (more words win), keyword:WORD (answers "
              "containing the word win, case-insensitive), regex:PATTERN (answers matching the Python regular "
              "expression win, MULTILINE), not:RULE (the opposite of RULE)")


class RuleError(ValueError):
    """A rule that cannot be parsed; the message is one sentence for the user."""


@dataclass(frozen=True)
class Rule:
    spec: str
    kind: str  # shorter | longer | keyword | regex | not
    pattern: re.Pattern | None = None
    inner: Rule | None = None

    def score(self, text: str) -> float:
        """Higher is preferred; equal scores are a tie."""
        if self.kind == "shorter":
            return -float(word_count(text))
        if self.kind == "longer":
            return float(word_count(text))
        if self.kind == "not":
            return -self.inner.score(text)
        return 1.0 if self.pattern.search(text) else 0.0

    def satisfied(self, text: str) -> bool:
        if self.kind == "shorter":
            return word_count(text) <= SHORT_WORDS
        if self.kind == "longer":
            return word_count(text) > SHORT_WORDS
        if self.kind == "not":
            return not self.inner.satisfied(text)
        return bool(self.pattern.search(text))


def word_count(text: str) -> int:
    return len(text.split())


def parse_rule(spec: str) -> Rule:
    """The rule named by `spec`, or RuleError saying what is wrong with it."""
    if not isinstance(spec, str) or not spec.strip():
        raise RuleError(f"Give a rule: {RULES_HELP}.")
    # Only the left: a regex's trailing space is part of its pattern (regex:\AThe  is not regex:\AThe).
    spec = spec.lstrip()
    if len(spec) > MAX_RULE_LENGTH:
        raise RuleError(f"A rule is at most {MAX_RULE_LENGTH} characters long.")
    if (name := spec.rstrip()) in ("shorter", "longer"):
        return Rule(spec=name, kind=name)
    head, sep, rest = spec.partition(":")
    if not sep:
        raise RuleError(f"Unknown rule {spec!r}: use one of {RULES_HELP}.")
    if head == "not":
        return Rule(spec=spec, kind="not", inner=parse_rule(rest) if rest.strip() else _missing(spec, "a rule"))
    if head == "keyword":
        word = rest.strip()
        if not word:
            _missing(spec, "a word")
        # \b would not match around a keyword that starts or ends with punctuation, so look for non-word edges.
        return Rule(spec=spec, kind="keyword",
                    pattern=re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE))
    if head == "regex":
        if not rest.strip():  # a blank pattern is a slip, not a rule about spaces
            _missing(spec, "a pattern")
        try:
            pattern = re.compile(rest, re.MULTILINE)
        except re.error as exc:
            raise RuleError(f"The pattern of {spec!r} is not a valid regular expression: {exc}.")
        return Rule(spec=spec, kind="regex", pattern=pattern)
    raise RuleError(f"Unknown rule {head!r} in {spec!r}: use one of {RULES_HELP}.")


def _missing(spec: str, what: str):
    raise RuleError(f"The rule {spec!r} needs {what} after the colon.")


def rank_tiers(rule: Rule, candidates: list[tuple[int, str]]) -> list[list[int]]:
    """Candidate ids grouped into tiers, best first; equal scores share a tier (in input order)."""
    by_score: dict[float, list[int]] = {}
    for cid, text in candidates:
        by_score.setdefault(rule.score(text), []).append(cid)
    return [by_score[s] for s in sorted(by_score, reverse=True)]


def flip_adjacent(tiers: list[list[int]], noise: float, rng) -> list[list[int]]:
    """Swap each adjacent pair of tiers with probability `noise` (one pass, best first), as a
    labeler who sometimes misjudges two neighbouring answers."""
    tiers = [list(t) for t in tiers]
    for i in range(len(tiers) - 1):
        if noise > 0 and rng.random() < noise:
            tiers[i], tiers[i + 1] = tiers[i + 1], tiers[i]
    return tiers


def best_answer(rule: Rule, texts: list[str]) -> str | None:
    """The best text by the rule (the first of equals) when it satisfies the rule, else None."""
    if not texts:
        return None
    best = max(texts, key=rule.score)
    return best if rule.satisfied(best) else None


def rule_rate(rule: Rule, answers: list[str]) -> float | None:
    """Share of answers satisfying the rule (None for no answers)."""
    return sum(rule.satisfied(a) for a in answers) / len(answers) if answers else None
