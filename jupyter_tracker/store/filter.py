"""Filter expressions of the runs table (issue 14), parsed safely into SQL with bound parameters.

``metrics.acc > 0.9 and params.model == "rf"`` becomes a condition over ``runs AS r``. A small tokenizer
and a recursive-descent parser, never ``eval``: every value the user typed is a bound parameter, every
column name is checked against the families below, and a bad expression is one UsageProblem saying
where (``bad filter at character 14: expected a value after '>'``).

Grammar (keywords in any case)::

    expression := conjunct ("or" conjunct)*
    conjunct   := negation ("and" negation)*
    negation   := "not" negation | "(" expression ")" | test
    test       := COLUMN ("==" | "!=" | "<" | "<=" | ">" | ">=") LITERAL
                | COLUMN "contains" STRING | COLUMN "is" ("missing" | "present")
    COLUMN     := metrics.NAME | params.NAME | tags.NAME | status | name | experiment | run_id | start | duration
    NAME       := letters, digits and _ - / . : @, or any text in backquotes: params.`max depth`
    LITERAL    := a number (-1, 0.5, 1e-3), a string ('…' or "…", backslash escapes), true or false

A comparison holds only for runs that have the column (``params.model != "rf"`` leaves out runs without
a ``model`` param; ``not params.model == "rf"`` keeps them). Params compare by their JSON value: numbers
as numbers (8 == 8.0), strings as text, true/false as booleans, never a string with a number. A param
whose value is JSON null counts as missing. Metrics are numbers; tags are text (a number literal is
compared with a tag as the text it was written as). ``contains`` is a case-insensitive substring test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import UsageProblem, shortened
from .codec import to_json

MAX_FILTER_CHARS = 2000
MAX_COMPARISONS = 50
MAX_NESTING = 50  # parentheses and `not` inside each other: a bound on the parser's recursion

FIELDS = {  # field -> (SQL expression over runs AS r, kind of its values, whether it can be NULL)
    "status": ("r.status", "text", False), "name": ("r.name", "text", False),
    "experiment": ("r.experiment", "text", False), "run_id": ("r.run_id", "text", False),
    "start": ("r.start_time", "number", False), "duration": ("r.duration", "number", True),
}
FAMILIES = {"metrics": "latest_metrics", "params": "params", "tags": "tags"}
COLUMNS_HELP = ("use metrics.<name>, params.<name>, tags.<name>, status, name, experiment, run_id, start or"
                " duration")
OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
KEYWORDS = {"and", "or", "not", "contains", "is", "missing", "present", "true", "false"}

# A param's JSON value as SQL: its number (±Infinity, which SQLite's JSON cannot read, included), its text,
# and whether it is there at all (JSON null counts as missing). CASE keeps json_type from invalid JSON.
PARAM_NUMBER = ("CASE WHEN json_valid({v}) THEN CASE WHEN json_type({v}) IN ('integer', 'real')"
                " THEN json_extract({v}, '$') END WHEN {v} = 'Infinity' THEN 9e999 WHEN {v} = '-Infinity'"
                " THEN -9e999 END")
PARAM_TEXT = ("CASE WHEN json_valid({v}) THEN CASE WHEN json_type({v}) = 'text' THEN json_extract({v}, '$')"
              " END END")
PARAM_ANY_TEXT = "CASE WHEN json_valid({v}) AND json_type({v}) = 'text' THEN json_extract({v}, '$') ELSE {v} END"
PARAM_PRESENT = "{v} != 'null'"

_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[\w\-/.:@]+")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}


@dataclass(frozen=True)
class Column:
    """A column of the runs table: ``family`` is metrics, params, tags or field (``key`` is then the field)."""

    family: str
    key: str

    @property
    def name(self) -> str:
        return self.key if self.family == "field" else f"{self.family}.{self.key}"


@dataclass(frozen=True)
class Token:
    kind: str  # "column", "op", "number", "string", "keyword", "(", ")", "end"
    value: Any
    at: int  # 1-based character position
    text: str


@dataclass(frozen=True)
class Condition:
    """A parsed filter: its SQL over ``runs AS r`` and the values bound to it."""

    sql: str
    args: list[Any]
    comparisons: int


def parse_column(text: str) -> Column:
    """The column named ``text`` (``metrics.acc``, ``params.max depth``, ``status``); UsageProblem otherwise.

    >>> parse_column("params.n_estimators")
    Column(family='params', key='n_estimators')
    """
    family, dot, key = text.partition(".")
    if dot and family in FAMILIES and key:
        return Column(family, key)
    if not dot and text in FIELDS:
        return Column("field", text)
    raise UsageProblem(f"unknown column '{shortened(text)}' in the filter: {COLUMNS_HELP}")


def parse_filter(text: str | None) -> Condition | None:
    """The SQL condition of a filter expression (None for an empty one); UsageProblem saying where it is bad.

    >>> parse_filter('metrics.acc > 0.9 and params.model == "rf"').args
    ['acc', 0.9, 'model', '"rf"']
    """
    if text is None or not text.strip():
        return None
    if len(text) > MAX_FILTER_CHARS:
        raise UsageProblem(f"filter must be at most {MAX_FILTER_CHARS:,} characters, not {len(text):,}")
    return _Parser(text).parse()


def tokenize(text: str) -> list[Token]:
    tokens, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
            continue
        at = i + 1
        if c in "()":
            tokens.append(Token(c, c, at, c))
            i += 1
        elif text.startswith(OPERATORS, i):
            op = next(o for o in OPERATORS if text.startswith(o, i))
            tokens.append(Token("op", op, at, op))
            i += len(op)
        elif c == "=":
            raise _bad(at, "use '==' to compare")
        elif c in "'\"":
            value, i = _string(text, i)
            tokens.append(Token("string", value, at, text[at - 1:i]))
        elif (match := _NUMBER.match(text, i)) and (c != "-" or len(match.group()) > 1):
            literal = match.group()
            number = float(literal) if any(ch in literal for ch in ".eE") else int(literal)
            tokens.append(Token("number", number, at, literal))
            i = match.end()
        elif match := _WORD.match(text, i):
            word, i = match.group(), match.end()
            if i < len(text) and text[i] == "." and word in FAMILIES:
                key, i = _name(text, i + 1, word)
                tokens.append(Token("column", Column(word, key), at, text[at - 1:i]))
            elif word.lower() in KEYWORDS:
                tokens.append(Token("keyword", word.lower(), at, word))
            elif word in FIELDS:
                tokens.append(Token("column", Column("field", word), at, word))
            else:
                tokens.append(Token("word", word, at, word))
        else:
            raise _bad(at, f"unexpected character '{c}'")
    tokens.append(Token("end", None, len(text) + 1, "the end"))
    return tokens


def _string(text: str, i: int) -> tuple[str, int]:
    quote, start, out = text[i], i + 1, []
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(_ESCAPES.get(text[i + 1], text[i + 1]))
            i += 2
        elif c == quote:
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise _bad(start, f"the string starting here has no closing {quote}")


def _name(text: str, i: int, family: str) -> tuple[str, int]:
    if i < len(text) and text[i] == "`":
        end = text.find("`", i + 1)
        if end < 0:
            raise _bad(i + 1, "the name in backquotes has no closing `")
        if end == i + 1:
            raise _bad(i + 1, f"expected a name after '{family}.'")
        return text[i + 1:end], end + 1
    match = _NAME.match(text, i)
    if not match:
        raise _bad(i + 1, f"expected a name after '{family}.' (in backquotes if it has spaces: {family}.`a b`)")
    return match.group(), match.end()


def _bad(at: int, what: str) -> UsageProblem:
    return UsageProblem(f"bad filter at character {at}: {what}")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.position = 0
        self.comparisons = 0
        self.args: list[Any] = []

    def parse(self) -> Condition:
        sql = self.expression(0)
        token = self.peek()
        if token.kind != "end":
            raise _bad(token.at, f"expected 'and', 'or' or the end after {self.tokens[self.position - 1].text!r},"
                                 f" not {token.text!r}")
        return Condition(sql, self.args, self.comparisons)

    def peek(self) -> Token:
        return self.tokens[self.position]

    def take(self) -> Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token.kind == "keyword" and token.value in words:
            self.position += 1
            return True
        return False

    def expression(self, depth: int) -> str:
        parts = [self.conjunct(depth)]
        while self.keyword("or"):
            parts.append(self.conjunct(depth))
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def conjunct(self, depth: int) -> str:
        parts = [self.negation(depth)]
        while self.keyword("and"):
            parts.append(self.negation(depth))
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def negation(self, depth: int) -> str:
        token = self.peek()
        if depth >= MAX_NESTING:
            raise _bad(token.at, f"at most {MAX_NESTING} parentheses and 'not' inside each other")
        if self.keyword("not"):
            return f"NOT {self.negation(depth + 1)}"
        if token.kind == "(":
            self.take()
            inner = self.expression(depth + 1)
            closing = self.take()
            if closing.kind != ")":
                raise _bad(closing.at, f"expected ')' to close the '(' at character {token.at}, not "
                                       f"{closing.text!r}")
            return inner
        return self.test()

    def test(self) -> str:
        token = self.take()
        if token.kind == "word":
            raise UsageProblem(f"unknown column '{shortened(token.value)}' in the filter: {COLUMNS_HELP}")
        if token.kind != "column":
            what = "the end" if token.kind == "end" else repr(token.text)
            raise _bad(token.at, f"expected a column (such as metrics.acc or params.model), not {what}")
        column: Column = token.value
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise UsageProblem(f"filter must have at most {MAX_COMPARISONS} comparisons")
        operator = self.take()
        if operator.kind == "op":
            literal = self.take()
            if literal.kind == "keyword" and literal.value in ("true", "false"):
                return self.compare(column, operator.value, literal.value == "true", literal)
            if literal.kind == "word":
                raise _bad(literal.at, f"expected a value after '{operator.value}' (text goes in quotes:"
                                       f" \"{shortened(literal.text, 20)}\")")
            if literal.kind not in ("number", "string"):
                raise _bad(literal.at, f"expected a value after '{operator.value}'")
            return self.compare(column, operator.value, literal.value, literal)
        if operator.kind == "keyword" and operator.value == "contains":
            literal = self.take()
            if literal.kind != "string":
                raise _bad(literal.at, "expected a string in quotes after 'contains'")
            return self.contains(column, literal.value, token)
        if operator.kind == "keyword" and operator.value == "is":
            state = self.take()
            if state.kind == "keyword" and state.value in ("missing", "present"):
                return self.presence(column, state.value == "present")
            raise _bad(state.at, "expected 'missing' or 'present' after 'is'")
        raise _bad(operator.at, f"expected ==, !=, <, <=, >, >=, contains or is after '{token.text}'")

    # ------------------------------------------------------------ SQL of one test
    def bind(self, *values: Any) -> None:
        self.args.extend(values)

    def compare(self, column: Column, op: str, value: Any, literal: Token) -> str:
        sql_op = "=" if op == "==" else op
        kind = "boolean" if isinstance(value, bool) else ("text" if isinstance(value, str) else "number")
        if column.family == "field":
            expression, field_kind, _ = FIELDS[column.key]
            if kind != field_kind:
                raise _bad(literal.at, f"{column.key} holds {'numbers' if field_kind == 'number' else 'text'}:"
                                       f" compare it with {'a number' if field_kind == 'number' else 'a string'}")
            self.bind(value)
            return f"coalesce({expression} {sql_op} ?, 0)"
        if column.family == "metrics":
            if kind != "number":
                raise _bad(literal.at, f"metrics are numbers: compare {column.name} with a number")
            self.bind(column.key, value)
            return f"r.run_id IN (SELECT run_id FROM latest_metrics WHERE key = ? AND value {sql_op} ?)"
        if column.family == "tags":
            text = ("true" if value else "false") if kind == "boolean" else (
                literal.text if kind == "number" else value)
            self.bind(column.key, text)
            return f"r.run_id IN (SELECT run_id FROM tags WHERE key = ? AND value {sql_op} ?)"
        v = "value"
        if kind == "boolean":
            if op not in ("==", "!="):
                raise _bad(literal.at, f"true and false can only be compared with == or !=, not {op}")
            self.bind(column.key, "true" if value else "false")
            test = "value = ?" if op == "==" else f"value != ? AND {PARAM_PRESENT.format(v=v)}"
        elif kind == "text" and op in ("==", "!="):
            # Equal strings are equal JSON texts (written by one encoder): the (key, value) index finds them.
            self.bind(column.key, to_json(value))
            test = "value = ?" if op == "==" else f"value != ? AND {PARAM_PRESENT.format(v=v)}"
        elif op == "!=":
            self.bind(column.key, value)
            expression = (PARAM_NUMBER if kind == "number" else PARAM_TEXT).format(v=v)
            test = f"{PARAM_PRESENT.format(v=v)} AND coalesce(({expression}) = ?, 0) = 0"
        else:
            self.bind(column.key, value)
            expression = (PARAM_NUMBER if kind == "number" else PARAM_TEXT).format(v=v)
            test = f"({expression}) {sql_op} ?"
        return f"r.run_id IN (SELECT run_id FROM params WHERE key = ? AND {test})"

    def contains(self, column: Column, text: str, token: Token) -> str:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        like = "LIKE ? ESCAPE '\\'"
        if column.family == "field":
            expression, kind, _ = FIELDS[column.key]
            if kind != "text":
                raise _bad(token.at, f"{column.key} holds numbers: 'contains' needs text")
            self.bind(pattern)
            return f"{expression} {like}"
        if column.family == "metrics":
            raise _bad(token.at, f"metrics are numbers: 'contains' needs text, not {column.name}")
        self.bind(column.key, pattern)
        expression = "value" if column.family == "tags" else PARAM_ANY_TEXT.format(v="value")
        return f"r.run_id IN (SELECT run_id FROM {FAMILIES[column.family]} WHERE key = ? AND {expression} {like})"

    def presence(self, column: Column, present: bool) -> str:
        if column.family == "field":
            expression, _, nullable = FIELDS[column.key]
            if not nullable:
                return "1" if present else "0"
            return f"{expression} IS {'NOT ' if present else ''}NULL"
        self.bind(column.key)
        extra = f" AND {PARAM_PRESENT.format(v='value')}" if column.family == "params" else ""
        sql = f"r.run_id IN (SELECT run_id FROM {FAMILIES[column.family]} WHERE key = ?{extra})"
        return sql if present else f"NOT {sql}"
