"""Redaction of secret values in what kernels send to clients.

A `Redactor` turns the values of a kernel's secrets into one compiled matcher (an Aho-Corasick
automaton, leftmost-longest) that finds, in one pass over a text, every value and the forms
a value commonly takes on the way out of a program: base64 (standard and URL-safe, at any
offset inside a longer base64 string), URL encoding (``quote``, ``quote_plus``) and string
escapes (``repr``, JSON). Each match becomes ``[REDACTED:<name>]``.

The matcher is built once per change of secrets, never once per message, and it does not
scan once per secret. Where Hyperscan is installed, its SIMD literal matcher first screens a
message's packed content, and only a message that may hold a value is decoded and given to
the automaton.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote, quote_plus

from ahocorasick_rs import BytesAhoCorasick, Implementation, MatchKind

DEFAULT_MIN_LENGTH = 8
"""Shorter values are not redacted: they appear by chance in ordinary output, and hiding each
place where they appear would reveal them."""

OUTPUT_TYPES = frozenset(
    {"stream", "display_data", "update_display_data", "execute_result", "error"}
)
"""The IOPub messages that carry a kernel's output."""

REPLY_TYPES = frozenset({"execute_reply", "inspect_reply"})
"""Shell replies that can show a rendered value (a pager payload, an inspected variable)."""

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


def forms(value: str) -> set[str]:
    """Every form of ``value`` that is redacted, the value itself included."""
    data = value.encode("utf-8")
    found = {
        value,
        quote(value),
        quote(value, safe=""),
        quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
    }
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            found.add(_base64_inner(data, offset, encode))
    found.discard("")
    return found


SCREEN_PREFIX = 256
"""How many bytes of each pattern Hyperscan screens for."""

DFA_LIMIT = 64 * 1024
"""Up to this many bytes of patterns, the automaton is a DFA: several times faster than an NFA,
but its size grows with the patterns' (a few 64 KB values would need gigabytes)."""


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

    def finds(self, data: bytes) -> bool:
        # Returning True from the handler stops the scan at the first match.
        try:
            for database in self._databases:
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

    def finds(self, data: bytes) -> bool:
        return bool(
            self._escapes.find_matches_as_indexes(data)
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
        replacements: dict[bytes, bytes] = {}
        # Sorted so that two secrets with the same value always show the same name.
        for name, value in sorted(secrets.items()):
            if len(value) < min_length:
                continue
            shown = placeholder(name).encode()
            for form in forms(value):
                # A form as it sits inside a JSON string too, for the scan of packed content.
                for variant in (
                    form,
                    json.dumps(form)[1:-1],
                    json.dumps(form, ensure_ascii=False)[1:-1],
                ):
                    replacements.setdefault(variant.encode("utf-8", "surrogatepass"), shown)
        self.patterns = sorted(replacements, key=len, reverse=True)
        self._replacements = [replacements[pattern] for pattern in self.patterns]
        self._automaton = (
            BytesAhoCorasick(
                self.patterns,
                matchkind=MatchKind.LeftmostLongest,
                implementation=(
                    Implementation.DFA
                    if sum(map(len, self.patterns)) <= DFA_LIMIT
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

    def redact_bytes(self, data: bytes) -> bytes:
        """``data`` with every match replaced; the same object when nothing matched."""
        if self._automaton is None or len(data) < self._shortest:
            return data
        matches = self._automaton.find_matches_as_indexes(data)
        if not matches:
            return data
        parts: list[bytes] = []
        position = 0
        for index, start, end in matches:
            parts.append(data[position:start])
            parts.append(self._replacements[index])
            position = end
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


class Redactor:
    """Redacts kernel messages with the current secrets of each kernel.

    ``secrets_for`` gives what a kernel holds now. A matcher is compiled once per set of
    secrets (kernels that hold the same share it), never once per message: a kernel whose
    secrets equal those of its last message reuses its matcher after one comparison.
    Compiling takes from milliseconds to a second, so `ready` tells the kernel connection
    when it must first `matcher` in a thread, off the event loop.
    """

    def __init__(self, secrets_for: SecretsFor, min_length: int = DEFAULT_MIN_LENGTH) -> None:
        self.secrets_for = secrets_for
        self.min_length = min_length
        self._last: dict[str, tuple[Mapping[str, str], Matcher]] = {}
        """Per kernel: the secrets of its last message, and their matcher."""
        self._compiled: dict[frozenset[tuple[str, str]], Matcher] = {}

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
        matcher = self._compiled.get(self._key(secrets))
        if matcher is not None:
            self._last[kernel_id] = (secrets, matcher)
        return matcher

    def matcher(self, kernel_id: str) -> Matcher:
        """The matcher of a kernel's current secrets, compiled if need be (blocking)."""
        secrets = self.secrets_for(kernel_id)
        key = self._key(secrets)
        matcher = self._compiled.get(key)
        if matcher is None:
            matcher = Matcher(secrets, self.min_length)
            # Old sets of secrets are dropped wholesale; kernels usually share a few.
            if len(self._compiled) >= 64:
                self._compiled.clear()
            self._compiled[key] = matcher
        if len(self._last) >= 1024:
            self._last.clear()
        self._last[kernel_id] = (secrets, matcher)
        return matcher

    def _key(self, secrets: Mapping[str, str]) -> frozenset[tuple[str, str]]:
        # Only what the matcher holds: a change of a value too short to redact compiles
        # nothing.
        return frozenset((n, v) for n, v in secrets.items() if len(v) >= self.min_length)

    @staticmethod
    def wants(msg_type: str) -> bool:
        """Whether messages of this type are redacted."""
        return msg_type in OUTPUT_TYPES or msg_type in REPLY_TYPES
