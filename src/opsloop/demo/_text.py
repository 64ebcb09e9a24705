"""Item text a model can learn from: a bag of words drawn from each policy's vocabulary.

Each item's text is a short post of ``MIN_WORDS + Poisson(EXTRA_WORDS)`` words. Each
word is, independently,

* with probability ``P_CUE`` a *cue word* of the item's topic (its true label; words of
  one policy, drawn with Zipf-like weights ``∝ 1/(rank + 2)``),
* with probability ``P_FAMILY`` a word of the topic's *family* (abuse aimed at people —
  harassment, hate, violence — share insults; spam and sexual content share
  promotion words; benign posts and self-harm share everyday words), so that policies
  of one family are told apart by their cue words only,
* with probability ``P_LOCALE`` a function word of the item's locale,
* otherwise an everyday filler word.

Noise: an *off-topic* item (the caption of a violating image that says nothing about
it, ``OFF_TOPIC_SHARE`` of the items) takes the cue words of ``none``, so no model can recover its
label from the text. A linear model on hashed word n-grams recovers the label of most
other items, and how far label errors in training cost it recall depends on where they
fall: the planted guideline confusion turns harassment into hate (and back) within one
family, whose items differ in a few cue words only.

>>> import numpy as np
>>> texts = item_text(np.random.default_rng(0), np.array([2, 0]), np.array([3, 0]),
...                   np.array([False, True]))
>>> len(texts), all(isinstance(t, str) and len(t.split()) >= MIN_WORDS for t in texts.to_pylist())
(2, True)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.demo import _taxonomy as tx
from opsloop.demo._taxonomy import Arr

MIN_WORDS = 6
EXTRA_WORDS = 8.0
P_CUE = 0.22
P_FAMILY = 0.18
P_LOCALE = 0.12
OFF_TOPIC_SHARE = 0.15


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


CUE_WORDS: dict[str, tuple[str, ...]] = {
    "none": _words(
        "sunset recipe birthday weekend coffee concert garden football holiday puppy "
        "noodles museum rain movie grandma beach bakery hiking wedding homework traffic "
        "playlist picnic library"
    ),
    "spam": _words(
        "click link bio earn free followers promo giveaway crypto discount winner cash dm "
        "subscribe limited bonus invest guaranteed prize code airdrop signup voucher "
        "profit"
    ),
    "harassment": _words(
        "loser pathetic ugly nobody likes you shut up clown stalk expose dox creep "
        "worthless cry reply ratio embarrassing fat quit tag everyone him her"
    ),
    "hate": _words(
        "subhuman vermin invaders those people their kind religion race deport replace "
        "filthy breed ban them all country pure inferior slur tribe foreigners minority "
        "migrants"
    ),
    "violence": _words(
        "fight blood punch gun knife attack shoot beat kill rally brawl injuries weapon "
        "hurt bomb stab riot graphic footage smash ambush bullet wounded tomorrow"
    ),
    "sexual": _words(
        "explicit nude adult onlyfans nsfw hot pics sexy lingerie 18 spicy private "
        "content body naked xxx cam strip uncensored escort kink leaked tape flirt"
    ),
    "self_harm": _words(
        "goodbye anymore pointless tired end it cutting pills alone hopeless last post "
        "scars numb relapse sorry burden disappear forever bridge overdose empty nothing "
        "matters"
    ),
}
FAMILY_WORDS: dict[str, tuple[str, ...]] = {
    "abuse": _words(
        "idiot stupid trash disgusting scum hate sick die garbage freak animals deserve "
        "nasty dumb monster evil shameful rotten"
    ),
    "promotion": _words(
        "link offer dm now only today exclusive check profile click join new deal fast"
    ),
    "everyday": _words(
        "today feel life day night friends home sleep work think really week family school"
    ),
}
FAMILY_OF: dict[str, str] = {
    "none": "everyday",
    "spam": "promotion",
    "harassment": "abuse",
    "hate": "abuse",
    "violence": "abuse",
    "sexual": "promotion",
    "self_harm": "everyday",
}
LOCALE_WORDS: dict[str, tuple[str, ...]] = {
    "en": _words("the and lol omg just so"),
    "es": _words("que los jaja pero muy para"),
    "pt": _words("que não kkk muito para você"),
    "id": _words("yang dan gak banget wkwk sih"),
    "th": _words("krub ka 555 mak mai jing"),
    "vi": _words("không và của quá nha vậy"),
    "ja": _words("desu www kore sugoi dame nee"),
    "ko": _words("ㅋㅋ 진짜 너무 그냥 아니 ㅠㅠ"),
    "ar": _words("wallah yalla habibi inshallah khalas mashallah"),
    "hi": _words("hai nahi yaar kya bhai accha"),
}
FILLER_WORDS: tuple[str, ...] = _words(
    "this is what when why how look see said new old good bad one two more again still "
    "never always here there people guy time video photo post thread comment watch read "
    "going got make want need know right wrong best first next back after before real big "
    "little every"
)


def _vocabulary() -> tuple[pa.Array, Arr, Arr, Arr]:
    """Every word list in one array: (words, start, count, keys).

    ``keys`` holds ``s + F_s(rank)`` for list ``s`` and the cumulative Zipf weights
    ``F_s``, increasing over all lists, so one ``searchsorted`` of ``s + u`` draws a word
    of list ``s`` for a uniform ``u``.
    """
    lists: list[tuple[str, ...]] = [CUE_WORDS[lab] for lab in tx.LABELS]
    lists += [FAMILY_WORDS[f] for f in FAMILY_WORDS]
    lists += [LOCALE_WORDS[loc] for loc in tx.LOCALES]
    lists.append(FILLER_WORDS)
    count = np.array([len(w) for w in lists])
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    keys = []
    for i, c in enumerate(count):
        weights = 1.0 / (np.arange(c) + 2.0)
        keys.append(i + np.cumsum(weights / weights.sum()))
    words = pa.array([w for ws in lists for w in ws], pa.string())
    return words, start, count, np.concatenate(keys)


_WORDS, _START, _COUNT, _KEYS = _vocabulary()
_FAMILY_LIST = np.array(
    [tx.N_LABELS + list(FAMILY_WORDS).index(FAMILY_OF[lab]) for lab in tx.LABELS]
)
_LOCALE_LIST = tx.N_LABELS + len(FAMILY_WORDS) + np.arange(len(tx.LOCALES))
_FILLER_LIST = tx.N_LABELS + len(FAMILY_WORDS) + len(tx.LOCALES)


def item_text(rng: np.random.Generator, truth: Arr, locale: Arr, off_topic: Arr) -> pa.Array:
    """One post per item (module docstring) from its true label, locale and off-topic flag."""
    n = truth.shape[0]
    length = MIN_WORDS + rng.poisson(EXTRA_WORDS, n)
    owner = np.repeat(np.arange(n), length)
    topic = np.where(off_topic, tx.NONE, truth)[owner]
    u = rng.random(owner.shape[0])
    source = np.full(owner.shape[0], _FILLER_LIST)
    source = np.where(u < P_CUE + P_FAMILY + P_LOCALE, _LOCALE_LIST[locale[owner]], source)
    source = np.where(u < P_CUE + P_FAMILY, _FAMILY_LIST[topic], source)
    source = np.where(u < P_CUE, topic, source)
    drawn = np.searchsorted(_KEYS, source + rng.random(owner.shape[0]), side="right")
    word = np.clip(drawn, _START[source], _START[source] + _COUNT[source] - 1)
    offsets = pa.array(np.concatenate([[0], np.cumsum(length)]).astype(np.int32))
    words = pa.ListArray.from_arrays(offsets, _WORDS.take(pa.array(word)))
    text: pa.Array = pc.binary_join(words, " ")
    return text
