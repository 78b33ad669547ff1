"""Tweet cleaning: pure functions, one per step, and :func:`clean` that chains them.

Steps, in order (each is a function of text or tokens, no state):

1. :func:`extract_symbols` - cashtags (``$AAPL``, ``$600036``, ``$600036.SH``)
   and company names (``Apple``, ``China Merchants Bank``, ``招商银行``) to
   universe symbols, in order of first appearance, without duplicates.
2. :func:`remove_urls`, :func:`remove_mentions` - drop ``http(s)://...`` /
   ``www...`` links and ``@user`` mentions.
3. :meth:`SymbolResolver.strip` - remove cashtags and company names from the
   text, so the model learns words, not tickers (a stock is not bullish).
4. :func:`replace_emojis` - common emojis to sentiment tokens
   (``🚀`` -> ``emoji_rocket``); other emojis are dropped.
5. :func:`normalize` - lowercase; ``#hashtag`` keeps its word.
6. :func:`tokenize` - words, numbers, emoji tokens, CJK runs and the
   punctuation ``. , ! ? ; :`` (kept for the negation scope).
7. :func:`mark_negation` - after ``not``/``no``/``never``/``...n't`` every
   token up to the next punctuation gets the prefix ``NOT_``.
8. :func:`remove_stopwords` - drop stop words and punctuation; negation and
   direction words (``up``, ``down``, ``above``...) are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from quantdesk.domain.messages import StockMeta

__all__ = [
    "EMOJI_TOKENS",
    "STOP_WORDS",
    "Cleaned",
    "SymbolResolver",
    "clean",
    "extract_symbols",
    "mark_negation",
    "normalize",
    "remove_mentions",
    "remove_stopwords",
    "remove_urls",
    "replace_emojis",
    "tokenize",
]

_URL: Final = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION: Final = re.compile(r"(?<![\w@])@\w{1,30}")
_CASHTAG: Final = re.compile(
    r"(?<![\w$])\$(\d{6}(?:\.(?:SH|SZ|sh|sz))?|[A-Za-z]{1,6}(?:\.[A-Za-z])?)\b"
)
_TOKEN: Final = re.compile(r"emoji_[a-z_]+|[a-z0-9]+(?:'[a-z]+)?|[\u4e00-\u9fff]+|[.,!?;:]")
_PUNCT: Final = frozenset(".,!?;:")

#: Emoji -> sentiment token; anything else in the emoji ranges is dropped.
EMOJI_TOKENS: Final[dict[str, str]] = {
    "🚀": "emoji_rocket",
    "🌕": "emoji_moon",
    "🌙": "emoji_moon",
    "📈": "emoji_chart_up",
    "📉": "emoji_chart_down",
    "💎": "emoji_gem",
    "🙌": "emoji_hands",
    "🔥": "emoji_fire",
    "🐂": "emoji_bull",
    "🐻": "emoji_bear",
    "💰": "emoji_money",
    "💵": "emoji_money",
    "🤑": "emoji_money",
    "👍": "emoji_thumbs_up",
    "👎": "emoji_thumbs_down",
    "😀": "emoji_smile",
    "😃": "emoji_smile",
    "😄": "emoji_smile",
    "😁": "emoji_smile",
    "😊": "emoji_smile",
    "🙂": "emoji_smile",
    "😂": "emoji_laugh",
    "🤣": "emoji_laugh",
    "😢": "emoji_cry",
    "😭": "emoji_cry",
    "😡": "emoji_angry",
    "🤬": "emoji_angry",
    "😱": "emoji_scream",
    "💀": "emoji_skull",
    "🤡": "emoji_clown",
    "🩸": "emoji_blood",
    "⚠": "emoji_warning",
    "❤": "emoji_heart",
    "🗑": "emoji_trash",
    "🤔": "emoji_thinking",
    "👀": "emoji_eyes",
}
# One translation table does every emoji step in a single C-level pass: mapped
# emojis to " emoji_x ", other emoji code points to " ", joiners removed.
_EMOJI_TABLE: Final[dict[int, str]] = {
    **{c: " " for c in range(0x1F000, 0x1FB00)},
    **{c: " " for c in range(0x2600, 0x27C0)},
    0xFE0F: "",
    0x200D: "",
    **{ord(e): f" {tok} " for e, tok in EMOJI_TOKENS.items()},
}

_NEGATORS: Final = frozenset(
    {"not", "no", "never", "nobody", "nothing", "nor", "cannot", "aint", "without", "neither"}
)

#: English stop words; negations and direction words are deliberately absent.
STOP_WORDS: Final = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "so",
        "than",
        "that",
        "this",
        "these",
        "those",
        "is",
        "am",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "having",
        "do",
        "does",
        "did",
        "doing",
        "i",
        "me",
        "my",
        "myself",
        "we",
        "our",
        "ours",
        "you",
        "your",
        "yours",
        "he",
        "him",
        "his",
        "she",
        "her",
        "hers",
        "it",
        "its",
        "they",
        "them",
        "their",
        "theirs",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "to",
        "of",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "about",
        "as",
        "into",
        "through",
        "during",
        "from",
        "again",
        "further",
        "once",
        "here",
        "there",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "own",
        "same",
        "very",
        "s",
        "t",
        "can",
        "will",
        "just",
        "should",
        "now",
        "im",
        "i'm",
        "it's",
        "its'",
        "rt",
        "amp",
        "via",
        "today",
        "just",
        "get",
        "got",
        "u",
    ]
)


@dataclass(frozen=True, slots=True)
class Cleaned:
    """The model tokens of one tweet and the universe symbols it names."""

    tokens: list[str]
    symbols: list[str]


class SymbolResolver:
    """Maps cashtags and company names to universe symbols.

    Cashtags: ``$AAPL`` -> ``AAPL``; ``$600036`` and ``$600036.SH`` ->
    ``600036.SH`` (the 6-digit code of an A-share). Names: the universe name
    (``Apple Inc.``), its short form without ``Inc.``/``Corp.``/``Group``...
    (``Apple``), and the Chinese names of the preset A-shares. Names match
    case-sensitively on word boundaries (``apple pie`` is not Apple).
    """

    def __init__(self, universe: Iterable[StockMeta], aliases: dict[str, str] | None = None):
        self.symbols: tuple[str, ...] = ()
        tags: dict[str, str] = {}
        names: dict[str, str] = {}
        for meta in universe:
            sym = meta.symbol
            self.symbols += (sym,)
            tags[sym.upper()] = sym
            code, _, _suffix = sym.partition(".")
            tags[code.upper()] = sym
            for name in _name_forms(meta.name):
                names.setdefault(name, sym)
        for name, sym in {**CN_ALIASES, **(aliases or {})}.items():
            if sym in self.symbols:
                names.setdefault(name, sym)
        self._tags = tags
        self._names = names
        alts = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        # the look-ahead on first characters lets the scan skip most positions fast
        firsts = "".join(sorted({re.escape(n[0]) for n in names}))
        name_pat = rf"(?<!\w)(?=[{firsts}])(?:{alts})(?!\w)"
        self._name_re = re.compile(name_pat) if alts else None
        # cashtags and names in one pattern, so one scan finds and strips both
        both = f"{_CASHTAG.pattern}|{name_pat}" if alts else _CASHTAG.pattern
        self._any_re = re.compile(both)

    def cashtag(self, tag: str) -> str | None:
        """The symbol of one cashtag body (``AAPL``, ``600036``), or None if not in the universe."""
        return self._tags.get(tag.upper())

    def find(self, text: str) -> list[str]:
        """Symbols named in ``text`` by cashtag or company name, first appearance first."""
        hits: list[tuple[int, str]] = []
        if "$" in text:
            for m in _CASHTAG.finditer(text):
                sym = self.cashtag(m.group(1))
                if sym is not None:
                    hits.append((m.start(), sym))
        if self._name_re is not None:
            hits.extend((m.start(), self._names[m.group(0)]) for m in self._name_re.finditer(text))
        hits.sort()
        return list(dict.fromkeys(sym for _, sym in hits))

    def extract(self, text: str) -> tuple[list[str], str]:
        """``(find(text), strip(text))`` in one scan."""
        symbols: dict[str, None] = {}
        parts: list[str] = []
        pos = 0
        tags, names = self._tags, self._names
        for m in self._any_re.finditer(text):
            tag = m.group(1)
            sym = tags.get(tag.upper()) if tag is not None else names[m.group(0)]
            if sym is not None:
                symbols[sym] = None
            parts.append(text[pos : m.start()])
            pos = m.end()
        if not parts:
            return [], text
        parts.append(text[pos:])
        return list(symbols), " ".join(parts)

    def strip(self, text: str) -> str:
        """``text`` without its cashtags and company names."""
        if "$" in text:
            text = _CASHTAG.sub(" ", text)
        return self._name_re.sub(" ", text) if self._name_re is not None else text


#: Chinese names of the preset A-share universe.
CN_ALIASES: Final[dict[str, str]] = {
    "招商银行": "600036.SH",
    "贵州茅台": "600519.SH",
    "茅台": "600519.SH",
    "平安银行": "000001.SZ",
    "五粮液": "000858.SZ",
    "中国平安": "601318.SH",
    "浦发银行": "600000.SH",
    "美的集团": "000333.SZ",
    "比亚迪": "002594.SZ",
    "工商银行": "601398.SH",
    "恒瑞医药": "600276.SH",
}
_SUFFIXES: Final = (
    " Inc.",
    " Corp.",
    " Class A",
    " & Co.",
    " Group",
    " Platforms",
    " Pharmaceuticals",
    " Yibin",
    ".com",
)


def _name_forms(name: str) -> list[str]:
    forms = [name]
    short = name
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if short.endswith(suffix):
                short = short[: -len(suffix)].rstrip(" ,")
                changed = True
    if short and short != name:
        forms.append(short)
    if short.startswith("Kweichow "):
        forms.append(short.removeprefix("Kweichow "))
    return forms


def extract_symbols(text: str, resolver: SymbolResolver) -> list[str]:
    """Universe symbols named in ``text`` (cashtags and company names)."""
    return resolver.find(text)


def remove_urls(text: str) -> str:
    """``text`` without ``http(s)://`` and ``www.`` links."""
    return _URL.sub(" ", text)


def remove_mentions(text: str) -> str:
    """``text`` without ``@user`` mentions (e-mail addresses are left alone)."""
    return _MENTION.sub(" ", text) if "@" in text else text


def replace_emojis(text: str) -> str:
    """Common emojis to `` emoji_<name> `` tokens; other emojis removed."""
    return text if text.isascii() else text.translate(_EMOJI_TABLE)


def normalize(text: str) -> str:
    """Lowercase, typographic apostrophes to ``'``, ``#`` of hashtags dropped."""
    return text.lower().replace("\u2019", "'").replace("#", " ")


def tokenize(text: str) -> list[str]:
    """Words, numbers, emoji tokens, CJK runs and ``. , ! ? ; :`` of normalized text."""
    return _TOKEN.findall(text)


def mark_negation(tokens: Sequence[str]) -> list[str]:
    """Prefix ``NOT_`` to the tokens after a negator, up to the next punctuation."""
    out: list[str] = []
    negated = False
    for tok in tokens:
        if tok in _PUNCT:
            negated = False
            out.append(tok)
        elif tok in _NEGATORS or tok.endswith("n't"):
            negated = True
            out.append(tok)
        else:
            out.append("NOT_" + tok if negated else tok)
    return out


_DROP: Final = STOP_WORDS | {"NOT_" + w for w in STOP_WORDS} | _PUNCT


def remove_stopwords(tokens: Sequence[str]) -> list[str]:
    """Drop stop words (also negated ones) and punctuation; negators stay as tokens."""
    return [t for t in tokens if t not in _DROP]


def clean(text: str, resolver: SymbolResolver | None = None) -> Cleaned:
    """Run every step on one tweet text: model tokens and the symbols it names."""
    text = remove_urls(text)
    symbols: list[str] = []
    if resolver is not None:
        symbols, text = resolver.extract(text)
    text = normalize(replace_emojis(remove_mentions(text)))
    tokens = tokenize(text)
    if "n't" in text or not _NEGATORS.isdisjoint(tokens):
        tokens = mark_negation(tokens)
    return Cleaned(tokens=[t for t in tokens if t not in _DROP], symbols=symbols)
