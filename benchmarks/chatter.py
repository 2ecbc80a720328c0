"""Realistic transcript messages for the big archive (benchmarks/big_archive.py).

A search index is only as realistic as the text in it: its size and speed follow the
number of distinct words, how often each occurs (Zipf: a few very often, most rarely) and
how long the messages are. The simulator's own transcripts repeat five fixed lines; these
are contact-center chat messages built from a few hundred everyday and domain words, a long
tail of 40,000 rarer words (product names, surnames, misspellings: made-up but
pronounceable), and the tokens that make every real transcript different (order and
tracking numbers, amounts, dates, phone numbers, e-mail addresses). Deterministic: the same
seed gives the same messages.
"""

from __future__ import annotations

import bisect
import itertools
import random

COMMON = """the a an and or but if so to of in on at for with from by about as into over after
before i you we they he she it me my your our their this that these those is are was were be
been being have has had do does did can could will would should may might must not no yes
please thanks thank hello hi okay ok sure right just now today tomorrow yesterday again
still already also very really more less much many some any all every each other same new
old first last next back here there when where why how what which who whom whose get got
give take make made see look looking check checked send sent call called help need want know
think say said tell told ask asked wait waiting sorry great good fine bad wrong issue problem
question time day week month year number name address phone email account card order""".split()

DOMAIN = """refund refunds charge charged charges billing bill invoice payment payments paid
pay balance credit debit fee fees late overdue plan subscription upgrade downgrade cancel
cancellation cancelled renew renewal contract discount promo coupon price pricing cost
password reset login locked unlock verification code verify identity security fraud dispute
chargeback complaint escalate escalation supervisor manager transfer callback ticket case
reference delivery shipping shipped tracking package parcel courier delayed damaged missing
return exchange replacement warranty repair technician appointment schedule rescheduled
router modem internet wifi connection outage signal slow speed device phone tablet laptop
app update install error crash screen battery sim roaming data voicemail porting number
activation activate deactivate suspend suspended reconnect address moved relocation
statement receipt bank transfer direct autopay card declined expired cvv limit approval
claim insurance policy premium deductible coverage beneficiary enrollment portal profile
settings notification privacy gdpr consent recording survey feedback satisfied unhappy
frustrated urgent asap immediately resolved resolution confirm confirmed confirmation""".split()

GREETINGS = [
    "Hello, thanks for contacting us.",
    "Hi there, how can I help you today?",
    "Good morning!",
    "Thank you for waiting.",
    "Bonjour, merci de patienter.",
    "Hola, ¿en qué puedo ayudarle?",
]
CLOSINGS = [
    "Is there anything else I can help you with?",
    "Have a great day!",
    "Thanks for your patience, goodbye.",
    "I've added a note to your account.",
    "You will receive a confirmation e-mail shortly.",
]

_SYLLABLES = (
    "ka ri to mo na shi ven dor lex qua zel tra pin bro fel gan hu jo ki lum mar nix "
    "oth pel quin ros sut tav ul vex wyn xa yor zed bel cor dax em fin gor hal ix jun "
    "kel lor mik nor ost pra rin sol tek ur vor wil yan zor"
).split()


def _tail(n: int, rnd: random.Random) -> list[str]:
    """``n`` made-up words of 2–4 syllables, all distinct."""
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rnd.choice(_SYLLABLES) for _ in range(rnd.randint(2, 4))))
    return sorted(out)


class Chatter:
    """Messages of contact-center chats, by a seeded random stream."""

    def __init__(self, seed: int = 7, tail_words: int = 40_000) -> None:
        rnd = random.Random(seed)
        everyday, domain, tail = list(COMMON), list(DOMAIN), _tail(tail_words, rnd)
        for group in (everyday, domain, tail):
            rnd.shuffle(group)
        self.vocabulary = everyday + domain + tail
        # Zipf's law: the word of rank r occurs about 1/r as often as the first; the long
        # tail is damped so that about one word in seven is a rare one, as in real chats
        known = len(everyday) + len(domain)
        weights = [(1.0 if r < known else 0.25) / (r + 1) for r in range(len(self.vocabulary))]
        self._cum = list(itertools.accumulate(weights))

    def word(self, rnd: random.Random) -> str:
        return self.vocabulary[bisect.bisect(self._cum, rnd.random() * self._cum[-1])]

    def _token(self, rnd: random.Random) -> str:
        """A token that makes a message its own: an order number, an amount, a date…"""
        kind = rnd.randrange(6)
        if kind == 0:
            return f"ORD-{rnd.randint(10_000_000, 99_999_999)}"
        if kind == 1:
            return f"${rnd.randint(1, 2000)}.{rnd.randint(0, 99):02d}"
        if kind == 2:
            return f"2025-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        if kind == 3:
            return f"+1{rnd.randint(2_000_000_000, 9_899_999_999)}"
        if kind == 4:
            return f"1Z{rnd.randint(10**15, 10**16 - 1)}"
        return f"{self.word(rnd)}{rnd.randint(1, 999)}@example.invalid"

    def message(self, rnd: random.Random, speaker: str, position: int, last: bool) -> str:
        """One message: a greeting or a closing where a chat has one, else 3–40 words
        (most short), now and then with a number, an amount or an address in it."""
        if speaker == "Agent" and position == 1 and rnd.random() < 0.7:
            return f"Agent: {rnd.choice(GREETINGS)}"
        if speaker == "Agent" and last and rnd.random() < 0.7:
            return f"Agent: {rnd.choice(CLOSINGS)}"
        n = min(40, max(3, int(rnd.lognormvariate(2.4, 0.6))))
        words = [self.word(rnd) for _ in range(n)]
        if rnd.random() < 0.3:
            words.insert(rnd.randrange(len(words) + 1), self._token(rnd))
        text = " ".join(words)
        return f"{speaker}: {text[0].upper()}{text[1:]}{rnd.choice('.?!.')}"

    def chat(self, rnd: random.Random, messages: int) -> list[str]:
        """A chat of ``messages`` messages, customer first, then taking turns."""
        out = []
        for k in range(messages):
            speaker = "Customer" if k % 2 == 0 else "Agent"
            out.append(self.message(rnd, speaker, k, k == messages - 1))
        return out
