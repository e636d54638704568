"""Whether a pattern's match in a text is said, or only quoted or reported.

"Saying 'immigrants are vermin' is disgusting" contains "immigrants are vermin", and so
does "immigrants are vermin". A rule that removes the second must not remove the first:
people who object to hate have to be able to repeat what they object to. A regex
condition with ``skip_mentions: true`` counts only the matches that are not mentions.

A match is a mention when, within its own sentence, it sits
- inside quotation marks (an odd number of them before it, at least one after it), in a
  text that says something besides the quotation (a quotation alone is a statement);
- right after words that report what someone else says ("he said", "people claiming
  that", "anyone who says", "dire que", "ceux qui disent que"). Words of belief ("they
  think", "everyone knows") are not among them: they are how a writer passes off a claim
  as common sense; or
- right after words that deny it ("I don't agree that", "it's a lie that", "the myth
  that", "je ne crois pas que"), unless the sentence is a question ("who could disagree
  that …?").

Reporting only counts when the reporter is not the writer ("I say …", "as I always say",
"je dis que …" are the writer's own words), and no mention counts in a text that then
agrees with what it reported ("… and they're right", "I agree", "ils ont raison"). Each
match is judged on its own, so a text that quotes a statement to object to it and then
makes it still matches.

Every look is bounded (the match's sentence, at most ``WINDOW`` characters either side),
so the cost per match does not grow with the text.
"""

from __future__ import annotations

import re

WINDOW = 120
"""Characters looked at on each side of a match, at most; a sentence end stops sooner."""

_SENTENCE_END = re.compile(r"[.!?\n]\s")
# Double quotation marks and guillemets always quote; a straight or curly single mark only
# when a letter is not on both sides of it ("don't", "l'homme" are apostrophes).
_QUOTE = re.compile(r"[\"“”„«»‹›]|(?<![^\W\d_])['‘’]|['‘’](?![^\W\d_])")
# How a reporting or denying frame ends right before the match: "that"/"que", then one run
# of spaces and punctuation with at most one opening quotation mark, so a long run of
# spaces is not scanned once per way to split it.
_FRAME_END = r"(?:\s+(?:that|que|qu['’]))?[\s:,]*(?:[\"“”„«»‹›'‘’][\s:,]*)?$"
# Words that report what someone says.
_REPORTED = re.compile(
    r"(?P<subject>(?:\b[\w'’]{1,30}\s+){1,2}|\bj['’])?"
    r"\b(?:say|says|said|saying|claim|claims|claimed|claiming|insist|insists|insisted|insisting"
    r"|argue|argues|argued|arguing|tweet|tweets|tweeted|tweeting|wrote|writes|writing"
    r"|post|posts|posted|posting|shout|shouts|shouted|shouting|chant|chants|chanted|chanting"
    r"|yell|yells|yelled|yelling|preach|preaches|preached|preaching"
    r"|dire|dit|disent|disant|prétendre|prétend|prétendent|prétendant|affirmer|affirme"
    r"|affirment|affirmant|répéter|répète|répètent|crier|crie|crient"
    r"|the\s+(?:idea|claim|notion|belief|rhetoric)|l['’](?:idée|affirmation)|le\s+discours)"
    + _FRAME_END,
    re.IGNORECASE,
)
# Words that deny what follows, whoever says them; not when they are themselves denied
# ("it's not a lie that …", "I don't disagree that …", "ce n'est pas faux").
_NOT_DENIED = r"(?<!not\s)(?<!n['’]t\s)(?<!pas\s)"
_DENIED = re.compile(
    r"(?:\b(?:don['’]?t|do\s+not|doesn['’]?t|does\s+not|never|can['’]?t|cannot|won['’]?t)"
    rf"\s+(?:agree|believe|think|accept)|{_NOT_DENIED}\bdisagree"
    rf"|{_NOT_DENIED}\b(?:not\s+true|untrue|false|a\s+lie|the\s+lie|a\s+myth|the\s+myth"
    r"|nonsense)"
    r"|\b(?:ne\s+)?(?:pense|crois|croit|pensent|croient)\s+pas"
    rf"|{_NOT_DENIED}\bfaux|\bpas\s+vrai|\ble\s+(?:mensonge|mythe)\s+selon\s+lequel)" + _FRAME_END,
    re.IGNORECASE,
)
_LETTER = re.compile(r"[^\W\d_]")
# The writer as the one saying it ("I said", "as I always say", "we all say"): then the
# words are the writer's own.
_FIRST_PERSON = re.compile(
    r"\b(?:i|i['’](?:ve|d|ll|m)|we|we['’](?:ve|d|ll)|je|nous)\b|\bj['’]", re.IGNORECASE
)
_AGREES = re.compile(
    r"\b(?:(?:they|he|she)\s*(?:['’]re|['’]s|are|is|was|were)\s+(?:so\s+|totally\s+"
    r"|absolutely\s+|dead\s+|completely\s+)?right|i\s+agree|agree\s+with\s+(?:him|her|them)"
    r"|so\s+true|couldn['’]?t\s+agree\s+more|(?:totally|fully|completely|absolutely)\s+agree"
    r"|(?:ils|elles|il|elle)\s+(?:ont|a)\s+(?:tellement\s+|bien\s+|parfaitement\s+)?raison"
    r"|je\s+suis\s+(?:tout\s+[àa]\s+fait\s+)?d['’]accord)\b"
    # Signed by the writer: "… - me".
    r"|[-–—~]\s*(?:me|moi)\b",
    re.IGNORECASE,
)


class MentionJudge:
    """Judges the matches of one text; whether the text agrees with what it reports is
    searched once, and only when a match is a mention."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._agrees: bool | None = None

    def is_mention(self, start: int, end: int) -> bool:
        before = self._before(start)
        # A denial asked as a question ("who could disagree that …?") asserts.
        if _DENIED.search(before):
            return "?" not in self._after(end)
        if not (self._quoted(start, end, before) or self._reported(before)):
            return False
        if self._agrees is None:
            self._agrees = _AGREES.search(self.text) is not None
        return not self._agrees

    def _before(self, start: int) -> str:
        window = self.text[max(0, start - WINDOW) : start]
        ends = list(_SENTENCE_END.finditer(window))
        return window[ends[-1].end() :] if ends else window

    def _after(self, end: int) -> str:
        window = self.text[end : end + WINDOW]
        stop = _SENTENCE_END.search(window)
        return window[: stop.start() + 1] if stop else window

    def _quoted(self, start: int, end: int, before: str) -> bool:
        marks = [m.start() for m in _QUOTE.finditer(before)]
        if len(marks) % 2 == 0:
            return False
        closing = _QUOTE.search(self._after(end))
        if closing is None:
            return False
        # Something said besides the quotation, within a window either side of it.
        opened_at = start - len(before) + marks[-1]
        closed_at = end + closing.end()
        outside = self.text[max(0, opened_at - WINDOW) : opened_at]
        outside += self.text[closed_at : closed_at + WINDOW]
        return _LETTER.search(outside) is not None

    def _reported(self, before: str) -> bool:
        frame = _REPORTED.search(before)
        if frame is None:
            return False
        subject = frame.group("subject")
        return subject is None or _FIRST_PERSON.search(subject) is None
