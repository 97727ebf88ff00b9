"""Redaction of secret values in what kernels send to clients.

A `Redactor` turns the values of a kernel's secrets into one compiled matcher (an Aho-Corasick
automaton, leftmost-longest) that finds, in one pass over a text, every value and the forms
a value commonly takes on the way out of a program (`forms`): string escapes (Python's
``repr`` and ``ascii``, of the text and of its UTF-8 bytes, and JSON), HTML escapes, URL
encoding with either case of hex, and base64 (standard and URL-safe, at any offset inside a
longer base64 string). Each match becomes ``[REDACTED:<name>]``.

The matcher is built once per change of secrets, never once per message, and it does not
scan once per secret. Its cost is bounded whatever the values: the automaton holds the first
`FORM_PREFIX` bytes of each form, and where those are found, the rest of the form is compared
byte for byte, as far as the text agrees with it. Where Hyperscan is installed, its SIMD
literal matcher first screens a message's packed content, and only a message that may hold a
value is decoded and given to the automaton.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import json
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote, quote_plus

from ahocorasick_rs import BytesAhoCorasick, Implementation, MatchKind

DEFAULT_MIN_LENGTH = 8
"""Shorter values are not redacted: they appear by chance in ordinary output, and hiding each
place where they appear would reveal them."""

EXEMPT_TYPES = frozenset(
    {
        "status",
        "kernel_info_reply",
        "shutdown_reply",
        "interrupt_reply",
        "is_complete_reply",
        "clear_output",
    }
)
"""The only messages passed on without redaction: they carry nothing the kernel's code or
data can put in them (an execution state, the kernel's own name and versions, an
acknowledgement, whether a cell is complete, the instruction to clear an output). Every other
message, of any type (outputs, replies, code echoed as ``execute_input``, comm messages of
widgets, debugger replies and events, input prompts, history, completions, and types yet to
come) is redacted."""

SecretsFor = Callable[[str], Mapping[str, str]]
"""A kernel's current secrets by kernel ID, as ``{name: value}``. It is called for every output
message, so it must be cheap: hand out the same mapping object until the secrets change."""


def placeholder(name: str) -> str:
    """What replaces a value of the secret ``name``."""
    return f"[REDACTED:{name}]"


def _base64_inner(data: bytes, offset: int, encode: Callable[[bytes], bytes]) -> str:
    """The base64 characters that encode ``data`` whatever bytes surround it, when ``data``
    starts ``offset`` bytes (mod 3) into a longer base64-encoded string.

    The characters at either edge also hold bits of the neighbouring bytes, so they are
    dropped: what remains appears in every base64 string that holds ``data`` at that offset.
    """
    encoded = encode(b"\0" * offset + data).rstrip(b"=")
    first = -(-offset * 8 // 6)  # the first character made only of data bits
    last = (offset + len(data)) * 8 // 6  # past the last character made only of data bits
    return encoded[first:last].decode("ascii")


def _string_escapes(value: str) -> list[str]:
    """``value`` as Python's ``repr`` and ``ascii`` write it inside a longer string, between
    single quotes and (where it can be) between double quotes, and its UTF-8 bytes as the
    ``repr`` of ``bytes`` writes them. Python picks the quotes from the whole string, so
    both are possible whatever the value holds."""
    found = []
    data = value.encode("utf-8", "surrogatepass")
    for write in (repr, ascii):
        # Both quotes in the string: single quotes, a single quote escaped.
        found.append(write("\"'" + value)[4:-1])
        if '"' not in value:
            # Only single quotes in the string: double quotes, nothing escaped.
            found.append(write("'" + value)[2:-1])
    found.append(repr(b"\"'" + data)[5:-1])
    if b'"' not in data:
        found.append(repr(b"'" + data)[3:-1])
    return found


_HTML_SPECIAL = frozenset("&<>\"'")


def _html_escapes(value: str) -> list[str]:
    """``value`` HTML-escaped as Python's ``html.escape`` (with and without quotes), pandas'
    ``to_html`` (``&``, ``<``, ``>`` only) and other templates (``&#39;``, ``&#34;``) write
    it."""
    if _HTML_SPECIAL.isdisjoint(value):
        return []
    quoted = html.escape(value)
    return [
        html.escape(value, quote=False),
        quoted,
        quoted.replace("&#x27;", "&#39;"),
        quoted.replace("&#x27;", "&#39;").replace("&quot;", "&#34;"),
    ]


_QUOTERS: list[Callable[[bytes], str]] = [
    quote,
    lambda data: quote(data, safe=""),
    quote_plus,
]


def _byte_tables(quoter: Callable[[bytes], str]) -> tuple[list[str], list[str]]:
    """What ``quoter`` writes for each byte: as it writes it, and with its hex digits in lower
    case. It quotes each byte on its own, so a table per byte quotes a value as it does, and
    faster (``quote`` runs a Python loop per byte of a value that needs escapes)."""
    upper = [quoter(bytes([byte])) for byte in range(256)]
    return upper, [written.lower() if written.startswith("%") else written for written in upper]


_BYTE_TABLES = [table for quoter in _QUOTERS for table in _byte_tables(quoter)]


def _percent_encodings(value: str) -> list[str]:
    """``value`` URL-encoded (``quote``, ``quote`` with ``safe=""``, ``quote_plus``), with
    upper-case hex as Python writes it, and with lower-case hex as other programs do."""
    data = value.encode("utf-8", "surrogatepass")
    return ["".join(map(table.__getitem__, data)) for table in _BYTE_TABLES]


def forms(value: str) -> list[str]:
    """Every form of ``value`` that is redacted, the value itself first, without repeats."""
    data = value.encode("utf-8", "surrogatepass")
    found = [
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        *_string_escapes(value),
        *_html_escapes(value),
        *_percent_encodings(value),
    ]
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            found.append(_base64_inner(data, offset, encode))
    return [form for form in dict.fromkeys(found) if form]


FORM_PREFIX = 256
"""How many bytes of each form the automaton (and Hyperscan) search for: the cap on a value's
patterns, which are at most this times its forms and their JSON-escaped variants (75 at most),
under 20 KB however long the value. Where a pattern is found, the rest of a longer form is
compared byte for byte (the value's whole forms are made when one of them is first found), so
a value of 64 KiB costs the automaton what a value of 256 bytes does. What the cap leaves out:
a piece of a long form that does not hold its first 256 bytes (the middle or the end of a long
key) is not found."""

SCREEN_PREFIX = FORM_PREFIX
"""How many bytes of each pattern Hyperscan screens for."""


DFA_LIMIT = 16 * 1024
"""Up to this many bytes of patterns, the automaton is a DFA: several times faster than an NFA,
but slower to build, and more so than in proportion (for repetitive values, 0.2 s at 12 KB
of patterns, 3 s at 50 KB, where the NFA takes milliseconds)."""


JSON_ESCAPES = (b"\\u", b"\\/")
"""The JSON escapes that `json.dumps` never writes for a form: a packed document holding one
may hold a form this matcher has no variant for, so it is decoded and searched."""

Engine = Literal["auto", "hyperscan", "aho-corasick"]


class _HyperscanScreen:
    """Hyperscan's literal matcher (SIMD), where its wheel exists: it tells whether a packed
    document holds a pattern or an escape in 2-6 µs per 16 KB, whatever the values, several
    times faster than the automaton."""

    def __init__(self, patterns: list[bytes]) -> None:
        import hyperscan

        self._stop = hyperscan.ScanTerminated
        # A text that holds a pattern holds its beginning: screening for beginnings is as
        # sure, and keeps within Hyperscan's limit on a pattern's length (values may be 64 KB).
        # The escapes get a database of their own: their two-byte literals would slow the
        # patterns' scan down more than a scan of their own costs.
        self._databases = [
            _literals(hyperscan, sorted({pattern[:SCREEN_PREFIX] for pattern in patterns})),
            _literals(hyperscan, JSON_ESCAPES),
        ]

    def finds(self, data: bytes, escapes: bool = True) -> bool:
        # Returning True from the handler stops the scan at the first match.
        try:
            for database in self._databases if escapes else self._databases[:1]:
                database.scan(data, match_event_handler=_stop_scan)
        except self._stop:
            return True
        return False


class _AutomatonScreen:
    """The escapes, then the redaction automaton itself: where Hyperscan is missing. Slower
    (its SIMD prefilter is off above 64 patterns, and for some values it is slow below),
    as sure."""

    _escapes = BytesAhoCorasick(list(JSON_ESCAPES))
    """(Python's own substring search finds the escapes several times slower.)"""

    def __init__(self, automaton: BytesAhoCorasick) -> None:
        self._automaton = automaton

    def finds(self, data: bytes, escapes: bool = True) -> bool:
        return bool(
            (escapes and self._escapes.find_matches_as_indexes(data))
            or self._automaton.find_matches_as_indexes(data)
        )


def _literals(hyperscan: Any, literals: Sequence[bytes]) -> Any:
    """A Hyperscan database that finds whether a text holds any of ``literals``."""
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=list(literals),
        ids=list(range(len(literals))),
        flags=hyperscan.HS_FLAG_SINGLEMATCH,
        literal=True,
    )
    return database


def _stop_scan(*_: Any) -> bool:
    return True


HAS_HYPERSCAN = importlib.util.find_spec("hyperscan") is not None
"""Whether hyperscan is installed (it has wheels for Linux x86-64 and macOS only)."""


AUTOMATON_BYTES_PER_PATTERN_BYTE = 48
"""About how much memory the automaton takes per byte of its patterns, at most (an NFA; the
DFA, used below `DFA_LIMIT`, takes more per byte but is small by that limit). Measured by
``bench/redaction_cost_bench.py``; it sizes the cache of matchers."""

CACHE_BYTES = 64 * 1024 * 1024
"""The matchers of sets of secrets that no kernel uses any more are kept, for kernels that
come to hold the same again, up to this many bytes in all (`Matcher.size`), least recently
used first out."""


class Matcher:
    """One automaton over every form of every secret value, for one set of secrets.

    It works on UTF-8 bytes: on a kernel message's content as the kernel packed it (JSON), so
    that the usual message, which holds no secret, is passed on without being decoded, and on
    the decoded strings of a message that may hold one.
    """

    def __init__(
        self,
        secrets: Mapping[str, str],
        min_length: int = DEFAULT_MIN_LENGTH,
        *,
        engine: Engine = "auto",
    ) -> None:
        # Per pattern (a form's first FORM_PREFIX bytes): the secret's name, and the values
        # that have a longer form starting with it.
        entries: dict[bytes, tuple[str, list[str]]] = {}
        # Sorted so that two secrets with the same value always show the same name.
        for name, value in sorted(secrets.items()):
            if len(value) < min_length:
                continue
            # The forms of a value's beginning begin its forms (each form writes a character,
            # or a byte, at a time): only those are needed to find them.
            head = value[:_HEAD_CHARACTERS]
            for variant in _variants(head):
                entry = entries.setdefault(variant[:FORM_PREFIX], (name, []))
                if (len(variant) > FORM_PREFIX or head != value) and value not in entry[1]:
                    entry[1].append(value)
        self.patterns = sorted(entries, key=len, reverse=True)
        self._names = [entries[pattern][0] for pattern in self.patterns]
        self._longer = [tuple(entries[pattern][1]) for pattern in self.patterns]
        self._whole: dict[str, tuple[bytes, ...]] = {}
        """Every variant of a long value, made when one is first found (`_reach`)."""
        pattern_bytes = sum(map(len, self.patterns))
        self._size = pattern_bytes * AUTOMATON_BYTES_PER_PATTERN_BYTE + sum(
            len(value) for value in {value for longer in self._longer for value in longer}
        )
        self._automaton = (
            BytesAhoCorasick(
                self.patterns,
                matchkind=MatchKind.LeftmostLongest,
                implementation=(
                    Implementation.DFA
                    if pattern_bytes <= DFA_LIMIT
                    else Implementation.ContiguousNFA
                ),
            )
            if self.patterns
            else None
        )
        self._shortest = len(self.patterns[-1]) if self.patterns else 0
        self._screen = (
            self._choose_screen(self._automaton, engine) if self._automaton is not None else None
        )

    def __bool__(self) -> bool:
        return self._automaton is not None

    @property
    def size(self) -> int:
        """About how many bytes of memory this matcher takes (its automaton, the long values
        it refers to, and the forms of those it has found whole)."""
        return self._size + sum(len(form) for whole in self._whole.values() for form in whole)

    def _choose_screen(
        self, automaton: BytesAhoCorasick, engine: Engine
    ) -> _AutomatonScreen | _HyperscanScreen:
        if HAS_HYPERSCAN and engine in ("auto", "hyperscan"):
            try:
                return _HyperscanScreen(self.patterns)
            except Exception:
                pass  # the automaton screens instead: slower, as sure
        return _AutomatonScreen(automaton)

    @property
    def engine(self) -> str:
        """What tells whether a message may hold a secret: ``hyperscan`` or ``aho-corasick``."""
        return "hyperscan" if isinstance(self._screen, _HyperscanScreen) else "aho-corasick"

    def find(self, data: bytes) -> Iterator[tuple[int, int, str]]:
        """Where ``data`` holds a value in one of its forms: ``(start, end, name)``, in order,
        leftmost first, the longest where several start at one place, never overlapping.

        A form longer than `FORM_PREFIX` bytes is found by its beginning, then followed as
        far as ``data`` agrees with it: all of it, or the part of a longer piece of the value
        that is there (at least its first `FORM_PREFIX` bytes).
        """
        automaton = self._automaton
        if automaton is None or len(data) < self._shortest:
            return
        view = memoryview(data)
        offset = 0
        while True:
            resume = None
            for index, start, end in automaton.find_matches_as_indexes(view[offset:]):
                start, end = start + offset, end + offset
                if self._longer[index]:
                    reach = self._reach(index, data, start, end)
                    if reach != end:
                        # Matches the automaton found inside the longer form are part of it;
                        # one that starts inside and ends beyond would hide what follows.
                        resume = end = reach
                yield start, end, self._names[index]
                if resume is not None:
                    break
            if resume is None:
                return
            offset = resume

    def _reach(self, index: int, data: bytes, start: int, end: int) -> int:
        """Where the longest form starting with pattern ``index`` (found at ``start``) stops
        agreeing with ``data``, at a character's edge; ``end`` if none goes further."""
        pattern = self.patterns[index]
        reach = end
        for value in self._longer[index]:
            whole = self._whole.get(value)
            if whole is None:
                whole = self._whole[value] = tuple(_variants(value))
            for form in whole:
                if form.startswith(pattern):
                    reach = max(reach, start + _agreement(form, data, start))
        # Never inside a UTF-8 character: a form cut short may differ from the text in the
        # last byte of one (and a pattern of FORM_PREFIX bytes may end inside one).
        while start < reach < len(data) and data[reach] & 0xC0 == 0x80:
            reach -= 1
        return reach

    def finds(self, data: bytes) -> bool:
        """Whether ``data`` (as bytes, not a packed document) holds a value in any form."""
        if self._screen is None or len(data) < self._shortest:
            return False
        return self._screen.finds(data, escapes=False)

    def redact_bytes(self, data: bytes) -> bytes:
        """``data`` with every match replaced; the same object when nothing matched."""
        parts: list[bytes] = []
        position = 0
        for start, end, name in self.find(data):
            parts.append(data[position:start])
            parts.append(placeholder(name).encode())
            position = end
        if not parts:
            return data
        parts.append(data[position:])
        return b"".join(parts)

    def redact(self, text: str) -> str:
        """``text`` with every match replaced; the same object when nothing matched."""
        # A character is 1 to 4 bytes, and patterns are measured in bytes.
        if self._automaton is None or 4 * len(text) < self._shortest:
            return text
        # UTF-8 is self-synchronising: a match of a valid UTF-8 pattern starts and ends on
        # character boundaries. "surrogatepass" keeps a lone surrogate (valid in JSON) as is.
        data = text.encode("utf-8", "surrogatepass")
        redacted = self.redact_bytes(data)
        if redacted is data:
            return text
        return redacted.decode("utf-8", "surrogatepass")

    def redact_tree(self, node: Any) -> Any:
        """A JSON-like value with every string in it redacted (keys too); the same object
        when nothing matched, so an unchanged message need not be encoded again."""
        if isinstance(node, str):
            return self.redact(node)
        if isinstance(node, list):
            items = [self.redact_tree(item) for item in node]
            if all(new is old for new, old in zip(items, node, strict=True)):
                return node
            return items
        if isinstance(node, dict):
            changed = False
            result = {}
            for key, item in node.items():
                new_key = self.redact(key) if isinstance(key, str) else key
                new_item = self.redact_tree(item)
                changed = changed or new_key is not key or new_item is not item
                result[new_key] = new_item
            return result if changed else node
        return node

    def may_hold(self, packed_json: bytes) -> bool:
        """Whether a JSON document, as packed, may hold a secret in one of its strings.

        False is certain when the document uses no ``\\u`` or ``\\/`` escape: its other
        escapes are the ones `json.dumps` writes too, so a string holding a form holds it
        in one of the escaped variants this automaton searches for.
        """
        # A packed document is never shorter than the strings it holds.
        if self._screen is None or len(packed_json) < self._shortest:
            return False
        return self._screen.finds(packed_json)


_HEAD_CHARACTERS = FORM_PREFIX + 4
"""How much of a value makes every form's first `FORM_PREFIX` bytes: each form writes at least
a byte per character, and base64 (whose edges are dropped) 4 characters per 3 bytes."""


def _variants(value: str) -> Iterator[bytes]:
    """Every form of ``value``, as it is and as it sits inside a JSON string (for the scan of
    packed content), in UTF-8, without repeats."""
    seen: set[bytes] = set()
    for form in forms(value):
        for variant in (
            form,
            json.dumps(form)[1:-1],
            json.dumps(form, ensure_ascii=False)[1:-1],
        ):
            data = variant.encode("utf-8", "surrogatepass")
            if data not in seen:
                seen.add(data)
                yield data


def _agreement(form: bytes, data: bytes, start: int) -> int:
    """How many bytes of ``form`` ``data`` holds from ``start`` on (the longest common
    prefix), found by halving: a few comparisons of whole slices, never a loop per byte."""
    if data[start : start + len(form)] == form:
        return len(form)
    low, high = 0, min(len(form), len(data) - start)  # agrees up to low; not up to high + 1
    while low < high:
        middle = (low + high + 1) // 2
        if data[start : start + middle] == form[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


class Redactor:
    """Redacts kernel messages with the current secrets of each kernel.

    ``secrets_for`` gives what a kernel holds now. A matcher is compiled once per set of
    secrets (kernels that hold the same share it), never once per message: a kernel whose
    secrets equal those of its last message reuses its matcher after one comparison.
    Compiling takes from milliseconds to a second, so `ready` tells the kernel connection
    when it must first `matcher` in a thread, off the event loop.
    """

    def __init__(
        self,
        secrets_for: SecretsFor,
        min_length: int = DEFAULT_MIN_LENGTH,
        *,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self.secrets_for = secrets_for
        self.min_length = min_length
        self.cache_bytes = cache_bytes
        self._last: dict[str, tuple[Mapping[str, str], Matcher]] = {}
        """Per kernel: the secrets of its last message, and their matcher."""
        self._compiled: OrderedDict[frozenset[tuple[str, str]], Matcher] = OrderedDict()
        """The compiled matchers, least recently compiled or used first."""

    @property
    def cached_bytes(self) -> int:
        """The sizes of the cached matchers, added up (a matcher grows a little when it first
        finds a long value whole)."""
        return sum(matcher.size for matcher in self._compiled.values())

    def ready(self, kernel_id: str) -> Matcher | None:
        """The matcher of a kernel's current secrets if it is compiled; None otherwise."""
        secrets = self.secrets_for(kernel_id)
        last = self._last.get(kernel_id)
        if last is not None:
            if last[0] is secrets:
                return last[1]
            if last[0] == secrets:
                # Kept, so that the next message is known unchanged by identity alone.
                self._last[kernel_id] = (secrets, last[1])
                return last[1]
        key = self._key(secrets)
        matcher = self._compiled.get(key)
        if matcher is not None:
            self._compiled.move_to_end(key)
            self._last[kernel_id] = (secrets, matcher)
        return matcher

    def matcher(self, kernel_id: str) -> Matcher:
        """The matcher of a kernel's current secrets, compiled if need be (blocking)."""
        secrets = self.secrets_for(kernel_id)
        key = self._key(secrets)
        matcher = self._compiled.get(key)
        if matcher is None:
            matcher = Matcher(secrets, self.min_length)
            self._cache(key, matcher)
        else:
            self._compiled.move_to_end(key)
        if len(self._last) >= 1024:
            self._last.clear()
        self._last[kernel_id] = (secrets, matcher)
        return matcher

    def _cache(self, key: frozenset[tuple[str, str]], matcher: Matcher) -> None:
        """Keep a new matcher, dropping the least recently used ones past `cache_bytes`
        (the new one stays, whatever its size: a kernel needs it)."""
        self._compiled[key] = matcher
        while self.cached_bytes > self.cache_bytes and len(self._compiled) > 1:
            self._compiled.popitem(last=False)

    def _key(self, secrets: Mapping[str, str]) -> frozenset[tuple[str, str]]:
        # Only what the matcher holds: a change of a value too short to redact compiles
        # nothing.
        return frozenset((n, v) for n, v in secrets.items() if len(v) >= self.min_length)

    @staticmethod
    def wants(msg_type: str) -> bool:
        """Whether messages of this type are redacted: every type but `EXEMPT_TYPES`."""
        return msg_type not in EXEMPT_TYPES
