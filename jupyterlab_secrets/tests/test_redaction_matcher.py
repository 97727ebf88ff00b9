"""The redaction matcher on its own: which forms it finds, and when it may skip a message.

The kernel tests (`test_redaction.py`) check the same through a real server; these check the
corner cases that are slow to reach through a kernel.
"""

from __future__ import annotations

import base64
import html
import json
import os
import platform
import random
import re
import sys
from types import MappingProxyType
from urllib.parse import quote, quote_plus

import pytest
from jupyter_client.session import json_packer

from jupyterlab_secrets.redaction import FORM_PREFIX, HAS_HYPERSCAN, Matcher, Redactor

ENGINES = ["aho-corasick", "hyperscan"]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each engine that screens packed messages; hyperscan only where it is installed."""
    if request.param == "hyperscan" and not HAS_HYPERSCAN:
        has_wheel = sys.platform == "darwin" or (
            sys.platform == "linux" and platform.machine() == "x86_64"
        )
        if has_wheel and os.environ.get("CI") == "true":
            pytest.fail("hyperscan is not installed, though pyproject.toml asks for it here")
        pytest.skip("hyperscan has no wheel for this platform; the automaton screens alone")
    return request.param


VALUES = ["plain-token-1234", 'qu"ote\\back\nslash\ttab', "\u00fcn\u00efc\u00f6de-\u2603-value"]


@pytest.mark.parametrize("value", VALUES)
def test_base64_inside_any_longer_string_is_found(value: str, engine: str) -> None:
    # Given a matcher of one value
    matcher = Matcher({"key": value}, engine=engine)
    rng = random.Random(5)
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for before in range(6):
            for after in range(4):
                # When the value is encoded between random bytes
                data = rng.randbytes(before) + value.encode() + rng.randbytes(after)
                encoded = encode(data).decode()
                # Then the redacted text holds the placeholder, and the rest is only edges
                redacted = matcher.redact(encoded)
                head, found, tail = redacted.partition("[REDACTED:key]")
                assert found, (before, after)
                assert len(head) <= before * 4 // 3 + 2
                assert len(tail) <= after * 4 // 3 + 4


@pytest.mark.parametrize("value", VALUES)
def test_url_and_escaped_forms_are_found(value: str, engine: str) -> None:
    matcher = Matcher({"key": value}, engine=engine)
    for form in (value, quote(value), quote(value, safe=""), quote_plus(value), repr(value)):
        assert "[REDACTED:key]" in matcher.redact(f"<{form}>"), form


@pytest.mark.parametrize("value", VALUES)
def test_packed_message_is_screened_without_decoding(value: str, engine: str) -> None:
    # Given a matcher, and a message content packed as kernels pack it
    matcher = Matcher({"key": value}, engine=engine)
    holding = json_packer({"name": "stdout", "text": f"before {value} after\n"})
    clean = json_packer({"name": "stdout", "text": "nothing secret here\n" * 50})
    # Then a content holding the value may hold it, and a clean one surely does not
    assert matcher.may_hold(holding)
    assert not matcher.may_hold(clean)
    # And one packed with \\u escapes (another encoder) is always decoded to be checked
    escaped = json.dumps({"text": f"before {value} after"}, ensure_ascii=True).encode()
    assert matcher.may_hold(escaped)
    redacted = matcher.redact_tree(json.loads(escaped))
    assert redacted == {"text": "before [REDACTED:key] after"}


def test_longest_value_wins_and_short_values_are_kept() -> None:
    # Given one value inside another, and a value shorter than the minimum
    matcher = Matcher({"inner": "abcdefgh12", "outer": "xx-abcdefgh12-yy", "short": "1234567"})
    # Then the longer match is redacted as a whole, and the short value is left alone
    text = "xx-abcdefgh12-yy abcdefgh12 1234567"
    assert matcher.redact(text) == "[REDACTED:outer] [REDACTED:inner] 1234567"


def test_unchanged_content_is_the_same_object() -> None:
    matcher = Matcher({"key": "plain-token-1234"})
    content = {"data": {"text/plain": ["a", "b"]}, "metadata": {}}
    assert matcher.redact_tree(content) is content


def test_matcher_is_compiled_once_per_change_of_secrets() -> None:
    # Given a source that hands out a new mapping on every call, as a kernel's holdings do
    held = {"k1": {"key": "plain-token-1234"}, "k2": {"key": "plain-token-1234"}}
    redactor = Redactor(lambda kernel_id: MappingProxyType(dict(held[kernel_id])))
    # Then nothing is compiled until asked for, off the event loop
    assert redactor.ready("k1") is None
    first = redactor.matcher("k1")
    # And every message, and every kernel holding the same secrets, reuses that matcher
    assert redactor.ready("k1") is first
    assert redactor.ready("k2") is first
    # And a change of a kernel's secrets needs a new one, which knows the new value
    held["k1"] = {"key": "plain-token-1234", "new": "brand-new-value"}
    assert redactor.ready("k1") is None
    assert redactor.ready("k2") is first
    assert redactor.matcher("k1").redact("brand-new-value") == "[REDACTED:new]"
    # And a value too short to redact changes nothing that is compiled
    held["k2"] = {"key": "plain-token-1234", "pin": "1234"}
    assert redactor.ready("k2") is first


class _CountedComparisons(dict[str, str]):
    compared = 0

    def __eq__(self, other: object) -> bool:
        _CountedComparisons.compared += 1
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]


def test_equal_secrets_in_a_new_mapping_are_compared_once() -> None:
    # Given a kernel whose holdings were replaced by an equal mapping (a change that
    # reached it), handed out as the same object from then on
    current = {"k1": _CountedComparisons(key="plain-token-1234")}
    redactor = Redactor(lambda kernel_id: current[kernel_id])
    first = redactor.matcher("k1")
    current["k1"] = _CountedComparisons(key="plain-token-1234")
    _CountedComparisons.compared = 0
    # When messages follow
    for _ in range(5):
        assert redactor.ready("k1") is first
    # Then the mappings were compared once; the later messages knew it by identity
    assert _CountedComparisons.compared == 1


def test_largest_value_is_found(engine: str) -> None:
    # Given a value of the largest size allowed (65,536 bytes)
    value = "v" + random.Random(3).randbytes(32767).hex() + "!"
    assert len(value.encode()) == 65_536
    matcher = Matcher({"big": value}, engine=engine)
    # Then it is found as is and in base64, in a packed message too
    assert matcher.redact(f"<{value}>") == "<[REDACTED:big]>"
    encoded = base64.b64encode(b"x" + value.encode()).decode()
    assert "[REDACTED:big]" in matcher.redact(encoded)
    assert matcher.may_hold(json_packer({"text": f"<{value}>"}))


def test_each_screen_finds_every_value_of_many_and_every_escape() -> None:
    # Given matchers of a few secrets and of a hundred, screened by each engine
    rng = random.Random(11)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    values = ["".join(rng.choices(alphabet, k=32)) for _ in range(100)]
    engines = ["aho-corasick", "hyperscan"] if HAS_HYPERSCAN else ["aho-corasick"]
    for engine in engines:
        for held in (values[:3], values):
            matcher = Matcher({f"k{i}": value for i, value in enumerate(held)}, engine=engine)
            assert matcher.engine == engine

            # Then a clean message is screened out
            text = "".join(rng.choices(alphabet + " \n", k=4096))
            assert not matcher.may_hold(json_packer({"name": "stdout", "text": text}))
            # And every value, and every escape, lets its message through
            for value in held:
                assert matcher.may_hold(json_packer({"text": f"log line {value} end"}))
            for escape in ("\\u0041", "\\/"):
                assert matcher.may_hold(f'{{"text": "{escape} and more, long enough"}}'.encode())


FORMED = [
    'it\'s a "quoted" <b>&amp</b> p@ss/w%rd+',
    "\u00fcn\u00efc\u00f6de 'single' only \u2603 & more",
    'tab\tnew\nline\x01\x1f ctl "dq" only',
]


def _shown_forms(value: str) -> dict[str, str]:
    """The value as programs commonly print it, each inside a longer text the way the program
    writes it (so Python's choice of quotes depends on the whole string)."""
    data = value.encode()
    escaped = html.escape(value)
    return {
        "html": escaped,
        "html, no quotes (pandas' to_html)": html.escape(value, quote=False),
        "html, &#39;": escaped.replace("&#x27;", "&#39;"),
        "html, &#34; and &#39;": escaped.replace("&#x27;", "&#39;").replace("&quot;", "&#34;"),
        "quote": quote(value),
        "quote, lower-case hex": re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(value)),
        "quote safe=''": quote(value, safe=""),
        "quote_plus, lower-case hex": re.sub(
            "%[0-9A-F]{2}", lambda m: m.group().lower(), quote_plus(value)
        ),
        "repr in a text with both quotes": repr("x'\"" + value),
        "repr in a text with single quotes": repr("x'" + value),
        "repr in a text with double quotes": repr('x"' + value),
        "ascii in a text with both quotes": ascii("x'\"" + value),
        "ascii in a text with single quotes": ascii("x'" + value),
        "repr of a dict": repr({"password": value}),
        "repr of its bytes": repr(b"x'" + data),
        "repr of its bytes, both quotes": repr(b"x'\"" + data),
        "json": json.dumps({"v": value}),
        "json, not ascii": json.dumps({"v": value}, ensure_ascii=False),
        "base64": base64.b64encode(b"ab" + data).decode(),
        "url-safe base64": base64.urlsafe_b64encode(b"a" + data).decode(),
    }


@pytest.mark.parametrize("value", FORMED)
def test_every_form_is_found_as_programs_print_it(value: str, engine: str) -> None:
    # Given a matcher of one value holding quotes, HTML, URL and control characters
    matcher = Matcher({"key": value}, engine=engine)
    for label, shown in _shown_forms(value).items():
        # When a program prints it in that form, among other text
        text = f"before {shown} after"
        redacted = matcher.redact(text)
        # Then the placeholder stands where it was
        assert "[REDACTED:key]" in redacted, label
        assert shown not in redacted, label
        # And a message holding that text, as packed, is decoded to be checked
        assert matcher.may_hold(json_packer({"text": text})), label


def test_lower_case_hex_is_only_the_escapes() -> None:
    # Given a value with upper-case letters that URL encoding keeps
    value = "ABCDEF-\u00e9/GHI"
    matcher = Matcher({"key": value})
    # Then its lower-case-hex form keeps the letters as they are
    assert matcher.redact("ABCDEF-%c3%a9%2fGHI") == "[REDACTED:key]"
    # And a text that lower-cases the letters too is not this value
    assert "[REDACTED" not in matcher.redact("abcdef-%c3%a9%2fghi")


def test_a_long_form_is_followed_whole_and_a_cut_one_as_far_as_it_goes(engine: str) -> None:
    # Given a value longer than the prefix the automaton searches for
    value = random.Random(8).randbytes(3000).hex()
    matcher = Matcher({"big": value, "small": "short-but-long-enough"}, engine=engine)
    # Then it is found whole, with a value right after it
    assert matcher.redact(f"<{value}short-but-long-enough>") == "<[REDACTED:big][REDACTED:small]>"
    # And where it is cut short after its first FORM_PREFIX bytes, as far as it goes
    assert matcher.redact(f"<{value[:4000]}!{value}>") == "<[REDACTED:big]![REDACTED:big]>"
    # And in base64, JSON-escaped inside a packed message, as far as it goes too
    encoded = base64.b64encode(b"x" + value.encode()).decode()
    assert matcher.redact(encoded[:2000] + "~").endswith("[REDACTED:big]~")
    # But a piece shorter than the prefix is shown, as any piece from the middle
    assert matcher.redact(value[:200]) == value[:200]
    assert matcher.redact(value[1000:2000]) == value[1000:2000]


def test_a_cut_form_ends_between_characters(engine: str) -> None:
    # Given a long value of two-byte characters, whose patterns end inside one
    value = "x" + "\u00e9" * 200
    matcher = Matcher({"accents": value}, engine=engine)
    # When a text holds its beginning, then a character that differs only in its last byte
    text = "x" + "\u00e9" * 130 + "\u00e8 and more"
    # Then the redaction stops before that character, which is shown whole
    assert matcher.redact(text) == "[REDACTED:accents]\u00e8 and more"
    assert matcher.redact(value + "\u00e8") == "[REDACTED:accents]\u00e8"


def test_patterns_are_bounded_whatever_the_value() -> None:
    # Given values of the largest size, made of control characters, whose escaped forms are
    # six times longer
    values = {f"k{i}": "".join(chr(1 + (j * 7 + i) % 31) for j in range(65_536)) for i in range(3)}
    # When they are compiled
    matcher = Matcher(values)
    # Then no pattern is longer than the prefix, and each value has its forms' worth at most
    assert max(map(len, matcher.patterns)) == FORM_PREFIX
    assert sum(map(len, matcher.patterns)) <= len(values) * FORM_PREFIX * 3 * 25
    # And every form is still found whole: the value, JSON-escaped, and URL-encoded
    value = values["k1"]
    for shown in (value, json.dumps(value), quote(value), repr(value)):
        assert "[REDACTED:k1]" in matcher.redact(shown)
        assert len(matcher.redact(shown)) < 20


def test_buffers_are_searched_as_bytes() -> None:
    matcher = Matcher({"key": "plain-token-1234"})
    assert matcher.finds(b"\x00\x01plain-token-1234\xff")
    assert not matcher.finds(b"\x00\x01plain-token-123\xff \\u0041")


def test_matchers_are_cached_up_to_a_size_least_recently_used_out() -> None:
    # Given kernels holding different sets of secrets, and a cache of about two matchers
    held = {f"k{i}": {"key": f"value-number-{i:04d}"} for i in range(6)}
    size = Matcher(held["k0"]).size
    redactor = Redactor(lambda kernel_id: held[kernel_id], cache_bytes=2 * size)
    # When each kernel's matcher is compiled, the first one used again in between
    first = redactor.matcher("k0")
    for index in range(1, 6):
        redactor.matcher(f"k{index}")
        assert redactor.ready("k0") is first  # by its kernel's last message
        assert redactor.cached_bytes <= 2 * size
    # Then the cache keeps the most recent, and a kernel whose matcher left it compiles again
    del redactor._last["k1"]
    assert redactor.ready("k1") is None
    assert redactor.ready("k5") is not None
    # And a matcher larger than the whole cache is kept, alone: a kernel needs it
    held["huge"] = {"key": "x" * 60_000 + "y"}
    huge = redactor.matcher("huge")
    assert huge.size > 2 * size
    assert redactor.cached_bytes == huge.size
