"""A strict JSONC reader: exactly what wrangler's parser accepts, with positions for every key.

Wrangler reads ``wrangler.json``/``wrangler.jsonc`` with ``jsonc-parser`` and
``allowTrailingComma``: JSON plus ``//`` and ``/* */`` comments, trailing commas and a UTF-8 BOM.
json5 accepts much more (unquoted keys, single quotes, hex, ``NaN``, ``+1``, ``.5``, line
continuations), so a config that loads in json5 can still fail ``wrangler deploy``. This module
rejects all of that, and also duplicate keys (which ``jsonc-parser`` silently resolves to the last
one), with an error that names the file, the line and column, what is wrong and how to fix it.
"""

from __future__ import annotations

import bisect
import json
import re
from typing import Any, NoReturn

from ..errors import ConfigError

__all__ = ["KeyPath", "Position", "parse_jsonc", "parse_jsonc_located"]

KeyPath = tuple[str | int, ...]
"""A path into a parsed document: object keys and array indexes, outermost first."""

Position = tuple[int, int]
"""A 1-based ``(line, column)``."""

_LINE_BREAKS = "\n\r\u2028\u2029"
# jsonc-parser's whitespace: JSON's four plus the Unicode spaces it also skips (and a stray BOM).
_SPACES = " \t\v\f\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\ufeff"
_WHITESPACE = frozenset(_SPACES + _LINE_BREAKS)
_STRICT_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# A "number-ish" run: everything json5 might read as one number, so the error can quote it whole.
_LOOSE_NUMBER = re.compile(r"[+-]?(?:[0-9A-Za-z_.$]|(?<=[eE])[+-])*")
_SIMPLE_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"')
_LEADING_ZEROS = re.compile(r"^(-?)0+(?=[0-9])")
_SINGLE_QUOTED = re.compile(r"'([^'\n\r]*)'")
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_VALID_ESCAPES = frozenset('"\\/bfnrtu')
_CONTROL_FIXES = {"\t": "\\t", "\b": "\\b", "\f": "\\f"}


def parse_jsonc(text: str, path: str = "<string>") -> Any:
    """Parse wrangler-flavoured JSONC ``text``; ``path`` names the source in error messages.

    Accepts JSON plus ``//`` and ``/* */`` comments, trailing commas and a leading UTF-8 BOM.
    Raises :class:`~cfwf_emulator.errors.ConfigError` (``"<path>:<line>:<col>: <problem>;
    <fix>"``) on anything else, including json5-only syntax and duplicate keys.
    """
    value, _ = parse_jsonc_located(text, path)
    return value


def parse_jsonc_located(text: str, path: str = "<string>") -> tuple[Any, dict[KeyPath, Position]]:
    """Like :func:`parse_jsonc`, and also return where each key (or array item) starts.

    The mapping goes from a key path such as ``("workflows", 1, "name")`` to the 1-based line and
    column of that key; the root ``()`` maps to the start of the top-level value.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    parser = _Parser(text, path)
    try:
        value = parser.document()
    except RecursionError:
        raise ConfigError(f"{path}: the document is nested too deeply to be a wrangler config") from None
    return value, parser.positions


class _Parser:
    """Recursive-descent parser over one string, recording key positions as it goes."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.pos = 0
        self.positions: dict[KeyPath, Position] = {}
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    # -- positions and errors -------------------------------------------------------------

    def where(self, pos: int) -> Position:
        """The 1-based (line, column) of character offset ``pos``."""
        index = bisect.bisect_right(self._line_starts, pos) - 1
        return index + 1, pos - self._line_starts[index] + 1

    def fail(self, pos: int, problem: str, fix: str) -> ConfigError:
        """A ConfigError located at ``pos``."""
        line, col = self.where(pos)
        return ConfigError(f"{self.path}:{line}:{col}: {problem}; {fix}")

    # -- lexical helpers ---------------------------------------------------------------

    def skip(self) -> None:
        """Skip whitespace and comments."""
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch in _WHITESPACE:
                self.pos += 1
            elif text.startswith("//", self.pos):
                while self.pos < n and text[self.pos] not in _LINE_BREAKS:
                    self.pos += 1
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.fail(self.pos, "unterminated /* comment", "close it with */")
                self.pos = end + 2
            else:
                return

    def peek(self) -> str:
        """The current character, or '' at the end."""
        return self.text[self.pos] if self.pos < len(self.text) else ""

    # -- grammar ---------------------------------------------------------------------

    def document(self) -> Any:
        """The whole text: exactly one value, with only whitespace and comments around it."""
        self.skip()
        if self.pos >= len(self.text):
            raise self.fail(
                self.pos, "the file is empty", "a wrangler config is a JSON object; start with {}"
            )
        self.positions[()] = self.where(self.pos)
        value = self.value(())
        self.skip()
        if self.pos < len(self.text):
            raise self.fail(
                self.pos,
                f"unexpected {self.describe(self.pos)} after the end of the top-level value",
                "a config holds a single JSON object; remove it or move it inside the braces",
            )
        return value

    def value(self, key: KeyPath) -> Any:
        """One value at the current position (which is not whitespace)."""
        ch = self.peek()
        if ch == "{":
            return self.obj(key)
        if ch == "[":
            return self.array(key)
        if ch == '"':
            return self.string()
        if ch == "'":
            raise self.single_quoted(self.pos)
        if ch == "-" or ch == "+" or ch == "." or ch.isdigit():
            return self.number()
        word = _WORD.match(self.text, self.pos)
        if word is not None:
            return self.word(word.group())
        if ch == "":
            raise self.fail(
                self.pos, "unexpected end of file where a value was expected", "add the missing value"
            )
        if ch == "#":
            raise self.fail(
                self.pos, "'#' comments are not allowed in JSONC", "use // or /* */ comments"
            )
        raise self.fail(
            self.pos,
            f"unexpected {self.describe(self.pos)} where a value was expected",
            'write a JSON value: an object, array, "string", number, true, false or null',
        )

    def word(self, word: str) -> Any:
        """A bare word in value position: a literal, or a json5-ism wrangler rejects."""
        start = self.pos
        self.pos += len(word)
        if word == "true":
            return True
        if word == "false":
            return False
        if word == "null":
            return None
        if word in ("NaN", "Infinity"):
            raise self.fail(
                start,
                f"{word} is not valid JSON (wrangler rejects NaN and Infinity)",
                "write a finite number, or a string if you meant text",
            )
        raise self.fail(
            start, f"unquoted string {word!r}: JSON strings must be in double quotes", f'write "{word}"'
        )

    def obj(self, key: KeyPath) -> dict[str, Any]:
        """An object; records each member's key position and rejects duplicate keys."""
        opened = self.pos
        self.pos += 1
        result: dict[str, Any] = {}
        last: str | None = None
        while True:
            self.skip()
            ch = self.peek()
            if ch == "}":
                self.pos += 1
                return result
            if ch == "":
                raise self.unclosed(opened, "object", "}")
            name_pos = self.pos
            name = self.member_name()
            if name in result:
                first, _ = self.positions[key + (name,)]
                raise self.fail(
                    name_pos,
                    f'duplicate key "{name}" (first defined at line {first}); '
                    "wrangler would silently keep only the last one",
                    "remove or rename one of them",
                )
            self.positions[key + (name,)] = self.where(name_pos)
            self.skip()
            if self.peek() != ":":
                raise self.fail(
                    self.pos,
                    f'expected ":" after the key "{name}" but found {self.describe(self.pos)}',
                    f'write "{name}": <value>',
                )
            self.pos += 1
            self.skip()
            result[name] = self.value(key + (name,))
            last = name
            self.separator(opened, "}", "object", f'the value of "{last}"', "members")

    def unclosed(self, opened: int, kind: str, closer: str) -> ConfigError:
        """The error for an object or array still open at the end of the file."""
        line, _ = self.where(opened)
        return self.fail(
            self.pos, f"unexpected end of file: the {kind} opened at line {line} is not closed", f"add {closer}"
        )

    def separator(self, opened: int, closer: str, kind: str, after: str, parts: str) -> None:
        """After a member or item: consume a comma, or stop before ``closer``; anything else is an error."""
        self.skip()
        ch = self.peek()
        if ch == ",":
            self.pos += 1
        elif ch != closer:
            if ch == "":
                raise self.unclosed(opened, kind, closer)
            raise self.fail(
                self.pos,
                f'expected "," or "{closer}" after {after} but found {self.describe(self.pos)}',
                f"add the missing comma between the {parts}",
            )

    def member_name(self) -> str:
        """An object key, which wrangler requires to be a double-quoted string."""
        ch = self.peek()
        if ch == '"':
            return self.string()
        if ch == "'":
            raise self.single_quoted(self.pos)
        word = _WORD.match(self.text, self.pos)
        if word is not None:
            name = word.group()
            raise self.fail(
                self.pos,
                f"unquoted key {name!r}: wrangler requires JSON keys in double quotes",
                f'write "{name}"',
            )
        if ch == "#":
            raise self.fail(
                self.pos, "'#' comments are not allowed in JSONC", "use // or /* */ comments"
            )
        raise self.fail(
            self.pos,
            f"expected a key in double quotes but found {self.describe(self.pos)}",
            'write "key": value',
        )

    def array(self, key: KeyPath) -> list[Any]:
        """An array; records each item's position."""
        opened = self.pos
        self.pos += 1
        result: list[Any] = []
        while True:
            self.skip()
            ch = self.peek()
            if ch == "]":
                self.pos += 1
                return result
            if ch == "":
                raise self.unclosed(opened, "array", "]")
            if ch == ",":
                raise self.fail(
                    self.pos, "empty array element (two commas in a row)", "remove the extra comma"
                )
            item = key + (len(result),)
            self.positions[item] = self.where(self.pos)
            result.append(self.value(item))
            self.separator(opened, "]", "array", "an array item", "items")

    def string(self) -> str:
        """A double-quoted JSON string (no raw control characters, JSON escapes only)."""
        match = _SIMPLE_STRING.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()
            decoded: str = json.loads(match.group())
            return decoded
        self.string_error()

    def string_error(self) -> NoReturn:
        """Find and raise the reason the string at the current position is not valid JSON."""
        text, n = self.text, len(self.text)
        start = self.pos
        i = start + 1
        while i < n:
            ch = text[i]
            if ch == '"':
                break
            if ch == "\\":
                nxt = text[i + 1] if i + 1 < n else ""
                if nxt in _LINE_BREAKS and nxt:
                    raise self.fail(
                        i,
                        "backslash at the end of a line inside a string: JSON strings cannot continue "
                        "onto the next line",
                        "join the lines, or write \\n for a line break",
                    )
                if nxt == "u" and not re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                    raise self.fail(
                        i,
                        "invalid \\u escape in string",
                        "write \\u followed by exactly four hex digits",
                    )
                if nxt not in _VALID_ESCAPES or not nxt:
                    raise self.fail(
                        i,
                        f"invalid escape {text[i:i + 2]!r} in string",
                        'JSON allows only \\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX; write \\\\ for a backslash',
                    )
                i += 2
                continue
            if ch in "\n\r":
                raise self.fail(
                    start,
                    "unterminated string: JSON strings cannot span lines",
                    'close the string with " on the same line, and write \\n for a line break',
                )
            if ch < " ":
                fix = _CONTROL_FIXES.get(ch, f"\\u{ord(ch):04x}")
                raise self.fail(
                    i, f"raw control character U+{ord(ch):04X} in string", f"write it as {fix}"
                )
            i += 1
        raise self.fail(start, "unterminated string", 'close the string with "')

    def single_quoted(self, pos: int) -> ConfigError:
        """The error for a json5 single-quoted string at ``pos``."""
        match = _SINGLE_QUOTED.match(self.text, pos)
        if match is not None:
            inner = match.group(1)
            return self.fail(
                pos,
                f"single-quoted string '{inner}': JSON strings use double quotes",
                f"write {json.dumps(inner)}",
            )
        return self.fail(
            pos, "single-quoted string: JSON strings use double quotes", 'use "..." instead'
        )

    def number(self) -> int | float:
        """A JSON number; json5-only forms (+1, .5, 5., 0x1F, 01, -Infinity) get a precise error."""
        start = self.pos
        loose = _LOOSE_NUMBER.match(self.text, start)
        token = loose.group() if loose is not None else ""
        strict = _STRICT_NUMBER.match(self.text, start)
        if strict is not None and strict.end() == start + len(token):
            self.pos = strict.end()
            literal = strict.group()
            if any(c in literal for c in ".eE"):
                return float(literal)
            return int(literal)
        unsigned = token.lstrip("+-")
        if unsigned in ("Infinity", "NaN"):
            raise self.fail(
                start,
                f"{token} is not valid JSON (wrangler rejects NaN and Infinity)",
                "write a finite number, or a string if you meant text",
            )
        if token.startswith("+"):
            fixed = token[1:]
            fixed = "0" + fixed if fixed.startswith(".") else fixed
            raise self.fail(
                start, f"number {token!r} has a leading '+'", f"JSON numbers cannot; write {fixed}"
            )
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", unsigned):
            decimal = int(unsigned, 16) * (-1 if token.startswith("-") else 1)
            raise self.fail(
                start,
                f"hexadecimal number {token!r} is not valid JSON",
                f"write it in decimal: {decimal}",
            )
        if unsigned.startswith("."):
            fixed = token.replace(".", "0.", 1)
            raise self.fail(
                start, f"number {token!r} has no digit before the decimal point", f"write {fixed}"
            )
        dot = re.match(r"-?[0-9]+\.(?![0-9])", token)
        if dot is not None:
            whole = dot.group()[:-1]
            raise self.fail(
                start,
                f"number {token!r} has no digit after the decimal point",
                f"write {whole} or {whole}.0",
            )
        if re.match(r"-?0[0-9]", token):
            fixed = _LEADING_ZEROS.sub(r"\1", token)
            raise self.fail(start, f"number {token!r} has a leading zero", f"write {fixed}")
        if token in ("-", "+"):
            raise self.fail(start, f"a lone {token!r} is not a value", "write a number after the sign")
        raise self.fail(
            start, f"invalid number {token!r}", "write a plain decimal JSON number such as 12 or 1.5"
        )

    def describe(self, pos: int) -> str:
        """A short human description of what is at ``pos``."""
        if pos >= len(self.text):
            return "the end of the file"
        word = _WORD.match(self.text, pos)
        if word is not None:
            return repr(word.group())
        return repr(self.text[pos])
