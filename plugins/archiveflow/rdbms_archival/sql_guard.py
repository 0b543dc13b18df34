"""Turn a user's `condition` / `query` into SQL we build ourselves, or refuse it.

The text is parsed with sqlglot (postgres dialect) and compiled node by node from an allow-list:
columns of the table, literals, comparisons, AND/OR/NOT, IN, BETWEEN, IS [NOT] NULL/TRUE/FALSE,
[NOT] [I]LIKE, + - * /, casts to simple types, intervals and a few pure functions. Anything else
(other tables, subqueries, a second statement, comments, unknown functions such as pg_sleep)
raises `GuardError`. Nothing of the user's text reaches PostgreSQL: identifiers become
`sql.Identifier`s of the resolved column names and literals become bind parameters.

A condition means what PostgreSQL would make of the same text, or is refused. sqlglot reads
other dialects too and normalises what it reads (`interval '90 days ago'` becomes
`INTERVAL '90' DAYS`, `ifnull` becomes `coalesce`, `==` becomes `=`), so the tokens are checked
against PostgreSQL's own spellings first, and every literal is bound exactly as written in the
text (`_SourceLiteral`), typed as PostgreSQL types a constant (an integer is `integer`, `bigint`
or `numeric` by its value, a string is of unknown type until its context decides). Nesting and
size are capped so a hostile text fails here, not in a recursion deep inside the parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import sqlglot
from psycopg import sql
from psycopg.types.numeric import Int4, Int8
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from archiveflow.errors import ArchiveflowError
from archiveflow.rdbms_archival.naming import UnknownName, resolve

MAX_TEXT = 4000
MAX_PARENS = 16  # parenthesis nesting: the parser recurses ~20 frames per level
MAX_DEPTH = 32  # expression nesting; an AND/OR chain counts as one level
MAX_TERMS = 2000  # expression nodes

_DIALECT = sqlglot.Dialect.get_or_raise("postgres")
_BINARY = {
    exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=",
    exp.Like: "LIKE", exp.ILike: "ILIKE", exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/",
}
_NEGATABLE = (exp.Like, exp.ILike)  # `x NOT LIKE y`
# sqlglot node -> (PostgreSQL function, argument slots in call order)
_FUNCTIONS = {
    exp.Lower: ("lower", ("this",)),
    exp.Upper: ("upper", ("this",)),
    exp.Length: ("length", ("this",)),
    exp.Abs: ("abs", ("this",)),
    exp.Floor: ("floor", ("this",)),
    exp.Ceil: ("ceil", ("this",)),
    exp.Round: ("round", ("this", "decimals")),
    exp.Coalesce: ("coalesce", ("this", "expressions")),
}
# The names PostgreSQL knows these by: sqlglot maps other dialects' names (ifnull, nvl, lcase,
# len, char_length...) onto the same nodes, and PostgreSQL would refuse those.
_FUNCTION_WORDS = {"lower", "upper", "length", "abs", "floor", "ceil", "ceiling", "round", "coalesce", "now", "cast"}
_NILADIC = {exp.CurrentDate: "CURRENT_DATE", exp.CurrentTimestamp: "CURRENT_TIMESTAMP"}
_CAST_TYPES = {
    exp.DataType.Type.DATE: "date", exp.DataType.Type.TIMESTAMP: "timestamp",
    exp.DataType.Type.TIMESTAMPTZ: "timestamptz", exp.DataType.Type.SMALLINT: "smallint",
    exp.DataType.Type.INT: "integer", exp.DataType.Type.BIGINT: "bigint",
    exp.DataType.Type.DECIMAL: "numeric", exp.DataType.Type.DOUBLE: "double precision",
    exp.DataType.Type.TEXT: "text", exp.DataType.Type.VARCHAR: "varchar", exp.DataType.Type.BOOLEAN: "boolean",
    exp.DataType.Type.INTERVAL: "interval",
}
# How PostgreSQL spells the types above (sqlglot also reads `string`, `int64`, `long`, ...).
_TYPE_WORDS = {"date", "timestamp", "timestamptz", "smallint", "int2", "integer", "int", "int4", "bigint", "int8",
               "numeric", "decimal", "double precision", "float8", "float", "text", "varchar", "character varying",
               "boolean", "bool", "interval"}
_INTERVAL_UNITS = {"YEAR", "YEARS", "MONTH", "MONTHS", "WEEK", "WEEKS", "DAY", "DAYS", "HOUR", "HOURS",
                   "MINUTE", "MINUTES", "SECOND", "SECONDS"}
_INTERVAL_FIELDS = {"YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"}  # INTERVAL '6' MONTH
_WHOLE_NUMBER = re.compile(r"\s*[+-]?[0-9]+\s*")
# Token types whose text must be PostgreSQL's spelling of the operator (sqlglot reads `==` as =).
_SPELLINGS = {
    TokenType.EQ: {"="}, TokenType.NEQ: {"<>", "!="}, TokenType.LT: {"<"}, TokenType.LTE: {"<="},
    TokenType.GT: {">"}, TokenType.GTE: {">="}, TokenType.PLUS: {"+"}, TokenType.DASH: {"-"},
    TokenType.STAR: {"*"}, TokenType.SLASH: {"/"}, TokenType.AND: {"AND"}, TokenType.OR: {"OR"},
    TokenType.NOT: {"NOT"}, TokenType.LIKE: {"LIKE", "~~"}, TokenType.ILIKE: {"ILIKE", "~~*"},
}
# Where a `+` would be unary (sqlglot drops a unary plus; PostgreSQL applies an operator).
_OPERAND_EXPECTED = {*_SPELLINGS, TokenType.L_PAREN, TokenType.COMMA, TokenType.IN, TokenType.BETWEEN,
                     TokenType.IS, TokenType.WHERE, TokenType.SELECT}
_REFUSED_TOKENS = {TokenType.PARAMETER, TokenType.SESSION_PARAMETER, TokenType.PLACEHOLDER}
_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")
_PREDICATES = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.And, exp.Or,
               exp.Not, exp.Is, exp.In, exp.Between, exp.Boolean)


class GuardError(ArchiveflowError):
    """The text is not an allowed condition/query; the message says why (the caller adds field and table)."""


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Selection:
    """What to read from one table: resolved columns and a WHERE clause with bind parameters."""

    columns: tuple[str, ...]
    where: sql.Composable
    params: tuple
    referenced: tuple[tuple[str, str], ...] = ()  # (field, column) of every column the WHERE uses


def compile_selection(table: Table, condition: str | None, query: str | None) -> Selection:
    """Both given: the rows must satisfy the query's WHERE and the condition. Raises GuardError
    with the offending field ('condition' or 'query') at the start of its message."""
    columns, clauses, params, referenced = table.columns, [], [], []
    if query is not None:
        try:
            columns, where = _compile_query(table, query, params, referenced)
        except GuardError as e:
            raise GuardError(f"query: {e}") from None
        if where is not None:
            clauses.append(where)
    if condition is not None:
        try:
            statement, literals = _parse_single(condition)
            compiler = _Compiler(table, params, literals, referenced, "condition")
            clauses.append(compiler.predicate(statement))
            compiler.finish()
        except GuardError as e:
            raise GuardError(f"condition: {e}") from None
    where = sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("TRUE")
    return Selection(columns=columns, where=where, params=tuple(params), referenced=tuple(referenced))


@dataclass(frozen=True)
class _SourceLiteral:
    """A literal as PostgreSQL reads it from the text: a string's value or a number's digits, and
    for `INTERVAL '...' <unit>` the unit written after the string."""

    kind: str  # "string" or "number"
    text: str
    unit: str | None = None


def _parse_single(text: str) -> tuple[exp.Expression, list[_SourceLiteral]]:
    if not text or not text.strip():
        raise GuardError("is empty")
    if len(text) > MAX_TEXT:
        raise GuardError(f"is longer than {MAX_TEXT} characters")
    if "\x00" in text:
        raise GuardError("contains a NUL character, which PostgreSQL text cannot hold")
    try:
        tokens = _DIALECT.tokenize(text)
        if any(token.comments for token in tokens):
            raise GuardError("comments are not allowed")
        if any(token.token_type is TokenType.SEMICOLON for token in tokens):
            raise GuardError("must be exactly one expression/statement (no ';')")
        literals = _checked_tokens(text, tokens)
        (statement,) = sqlglot.parse(text, read="postgres")
    except SqlglotError as e:
        raise GuardError(f"cannot be parsed: {str(e).splitlines()[0]}") from None
    except RecursionError:
        raise GuardError(f"is nested too deeply (at most {MAX_DEPTH} levels)") from None
    _check_size(statement)
    return statement, literals


def _checked_tokens(text: str, tokens: list[Token]) -> list[_SourceLiteral]:
    """Refuse what PostgreSQL would read differently from sqlglot; the literals in text order."""
    depth, literals = 0, []
    for i, token in enumerate(tokens):
        before = tokens[i - 1] if i else None
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
        if depth > MAX_PARENS:
            raise GuardError(f"is nested too deeply (at most {MAX_PARENS} levels of parentheses)")
        _check_spelling(token, before, after)
        literal = _source_literal(text, token, before, after)
        if literal is not None:
            literals.append(literal)
    return literals


def _check_spelling(token: Token, before: Token | None, after: Token | None) -> None:
    kind, word = token.token_type, token.text.upper()
    if kind in _REFUSED_TOKENS:
        raise GuardError(f"parameters such as {token.text!r} are not allowed: write the value itself")
    if kind in _SPELLINGS and word not in _SPELLINGS[kind]:
        raise GuardError(f"{token.text!r} is not a PostgreSQL operator")
    if kind is TokenType.PLUS and (before is None or before.token_type in _OPERAND_EXPECTED):
        raise GuardError("a unary '+' is not allowed")
    if after is not None and after.token_type is TokenType.L_PAREN and kind is TokenType.VAR \
            and token.text.lower() not in _FUNCTION_WORDS:
        raise GuardError(f"{token.text!r} is not allowed: PostgreSQL functions allowed are "
                         f"{', '.join(sorted(_FUNCTION_WORDS - {'cast'}))}")
    if kind in (TokenType.CURRENT_DATE, TokenType.CURRENT_TIMESTAMP) and after is not None \
            and after.token_type is TokenType.L_PAREN:
        raise GuardError(f"{token.text}(...) is not allowed; write {token.text.upper()} alone")
    typed = (before is not None and before.token_type in (TokenType.DCOLON, TokenType.ALIAS)) or (
        after is not None and after.token_type is TokenType.STRING)
    if typed and kind in _DIALECT.parser_class.TYPE_TOKENS and token.text.lower() not in _TYPE_WORDS:
        raise GuardError(f"type {token.text!r} is not allowed; types allowed: {', '.join(sorted(_TYPE_WORDS))}")


def _source_literal(text: str, token: Token, before: Token | None, after: Token | None) -> _SourceLiteral | None:
    kind = token.token_type
    if kind.name.endswith("_STRING"):
        raise GuardError(f"only plain '...' string literals are allowed, not {text[token.start:token.end + 1]!r}")
    if kind is TokenType.STRING:
        # a plain string doubles its quotes and nothing else (standard_conforming_strings)
        if text[token.start:token.end + 1] != "'" + token.text.replace("'", "''") + "'":
            raise GuardError(f"string {text[token.start:token.end + 1]!r} is not a plain '...' literal")
        unit = None
        if before is not None and before.token_type is TokenType.INTERVAL and after is not None \
                and after.text.upper() in _INTERVAL_UNITS:
            unit = after.text.upper()
        return _SourceLiteral("string", token.text, unit)
    if kind is TokenType.NUMBER:
        if not _NUMBER.fullmatch(token.text) or (before is not None and before.token_type is TokenType.DOT):
            raise GuardError(f"number {token.text!r} is not allowed; write digits like 12, 0.5 or 1e6")
        return _SourceLiteral("number", token.text)
    return None


def _check_size(statement: exp.Expression) -> None:
    """Iterative, so a deep tree is refused before anything recurses into it."""
    todo, terms = [(statement, 1)], 0
    while todo:
        node, depth = todo.pop()
        terms += 1
        if depth > MAX_DEPTH:
            raise GuardError(f"is nested too deeply (at most {MAX_DEPTH} levels)")
        if terms > MAX_TERMS:
            raise GuardError(f"has more than {MAX_TERMS} terms")
        for child in node.iter_expressions():
            chained = isinstance(node, exp.Connector) and type(child) is type(node)
            todo.append((child, depth if chained else depth + 1))


def _compile_query(table: Table, text: str, params: list,
                   referenced: list) -> tuple[tuple[str, ...], sql.Composable | None]:
    stmt, literals = _parse_single(text)
    if not isinstance(stmt, exp.Select):
        raise GuardError(f"must be a single SELECT, got {stmt.key.upper()}")
    extra = sorted(k for k, v in stmt.args.items() if v and k not in ("expressions", "from_", "where"))
    if extra:
        raise GuardError(f"only SELECT <columns> FROM <table> [WHERE ...] is allowed, found: {', '.join(extra)}")
    source = stmt.args.get("from_")
    target = source.this if source else None
    if not isinstance(target, exp.Table) or any(v for k, v in target.args.items() if k not in ("this", "db")):
        raise GuardError(f"must read from the table {table.name!r} only")
    _same_name(target.args["this"], table.name, "table")
    if target.args.get("db") is not None:
        _same_name(target.args["db"], table.schema, "schema")
    compiler = _Compiler(table, params, literals, referenced, "query")
    if all(isinstance(p, exp.Star) for p in stmt.expressions):
        columns = table.columns
    else:
        columns = tuple(dict.fromkeys(compiler.column_name(p) for p in stmt.expressions))
    where = stmt.args.get("where")
    compiled = compiler.predicate(where.this) if where else None
    compiler.finish()
    return columns, compiled


def _same_name(identifier: exp.Expression, expected: str, what: str) -> None:
    if not isinstance(identifier, exp.Identifier):
        raise GuardError(f"{what} must be a plain name")
    try:
        resolve(identifier.name, [expected], what=what, quoted=identifier.quoted, sql_identifier=True)
    except UnknownName:
        raise GuardError(f"{what} {identifier.name!r} is not {expected!r}: only the table itself may be read") from None


def pg_number(digits: str, negative: bool = False) -> int | Decimal:
    """A numeric constant typed as PostgreSQL types it: integer if it fits, else bigint, else
    numeric; with a decimal point or exponent, numeric. `negative`: a minus sign applied to the
    constant itself (PostgreSQL folds `-2147483648` into one integer constant)."""
    if not digits.isascii() or not digits.isdigit():
        return -Decimal(digits) if negative else Decimal(digits)
    value = -int(digits) if negative else int(digits)
    if -(2**31) <= value < 2**31:
        return Int4(value)
    if -(2**63) <= value < 2**63:
        return Int8(value)
    return value  # bound as numeric


class _Compiler:
    def __init__(self, table: Table, params: list, literals: list[_SourceLiteral], referenced: list, field: str):
        self.table, self.params = table, params
        self._literals = iter(literals)
        self._referenced, self._field = referenced, field

    def predicate(self, node: exp.Expression) -> sql.Composable:
        inner = node
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if not isinstance(inner, _PREDICATES):
            raise GuardError(f"must be a boolean expression, got {inner.key.upper()}")
        return self.compile(node)

    def finish(self) -> None:
        """Every literal of the text was bound: none was merged or dropped on the way."""
        left = next(self._literals, None)
        if left is not None:
            raise GuardError(f"literal {left.text!r} is not used as written")

    def column_name(self, node: exp.Expression) -> str:
        if not isinstance(node, exp.Column) or not isinstance(node.this, exp.Identifier):
            raise GuardError(f"only columns of {self.table.name!r} may be selected, not {node.sql('postgres')!r}")
        qualifier = node.args.get("table")
        if qualifier is not None or any(node.args.get(k) for k in ("db", "catalog")):
            if qualifier is None or node.args.get("db") or node.args.get("catalog"):
                raise GuardError(f"column {node.sql('postgres')!r} may be qualified by its table only")
            _same_name(qualifier, self.table.name, "table")
        try:
            return resolve(node.this.name, self.table.columns, what="column", quoted=node.this.quoted,
                           sql_identifier=True)
        except UnknownName as e:
            raise GuardError(f"{e} in {self.table.schema}.{self.table.name}") from None

    def bind(self, value) -> sql.Composable:
        self.params.append(value)
        return sql.Placeholder()

    def source_literal(self, kind: str, parsed: str | None) -> _SourceLiteral:
        """The next literal of the text; it must be the one sqlglot parsed (`parsed`, unless
        sqlglot rewrites it by design, as in intervals)."""
        literal = next(self._literals, None)
        if literal is None or literal.kind != kind or (parsed is not None and parsed != literal.text):
            raise GuardError(f"literal {parsed!r} would not reach PostgreSQL as written")
        return literal

    def compile(self, node: exp.Expression) -> sql.Composable:
        handler = _HANDLERS.get(type(node))
        if handler is None:
            what = node.name if isinstance(node, exp.Anonymous) else node.key.upper()
            raise GuardError(f"{what!r} is not allowed ({node.sql('postgres')[:80]!r})")
        return handler(self, node)

    def _column(self, node: exp.Column) -> sql.Composable:
        name = self.column_name(node)
        self._referenced.append((self._field, name))
        return sql.Identifier(name)

    def _literal(self, node: exp.Literal) -> sql.Composable:
        if node.is_string:
            return self.bind(self.source_literal("string", node.this).text)
        return self.bind(pg_number(self.source_literal("number", node.this).text))

    def _keyword(self, node: exp.Expression) -> sql.Composable:
        if isinstance(node, exp.Boolean):
            return sql.SQL("TRUE" if node.this else "FALSE")
        return sql.SQL("NULL")

    def _paren(self, node: exp.Paren) -> sql.Composable:
        return sql.SQL("({})").format(self.compile(node.this))

    def _neg(self, node: exp.Neg) -> sql.Composable:
        negative, inner = True, node.this
        while isinstance(inner, (exp.Paren, exp.Neg)):
            negative ^= isinstance(inner, exp.Neg)
            inner = inner.this
        if isinstance(inner, exp.Literal) and not inner.is_string:  # PostgreSQL folds it into the constant
            return self.bind(pg_number(self.source_literal("number", inner.this).text, negative))
        return sql.SQL("(- {})").format(self.compile(node.this))

    def _not(self, node: exp.Not) -> sql.Composable:
        return sql.SQL("(NOT {})").format(self.compile(node.this))

    def _binary(self, node: exp.Expression) -> sql.Composable:
        negatable = isinstance(node, _NEGATABLE)
        self._only(node, "this", "expression", *(("negate",) if negatable else ()), "typed", "safe")
        op = ("NOT " if negatable and node.args.get("negate") else "") + _BINARY[type(node)]
        return sql.SQL("({} " + op + " {})").format(self.compile(node.left), self.compile(node.right))

    def _connector(self, node: exp.Connector) -> sql.Composable:
        self._only(node, "this", "expression")
        op = " AND " if isinstance(node, exp.And) else " OR "
        # one flat list: a long chain must not recurse once per term
        return sql.SQL("({})").format(sql.SQL(op).join(self.compile(part) for part in node.flatten()))

    def _is(self, node: exp.Is) -> sql.Composable:
        self._only(node, "this", "expression", "negate")
        if not isinstance(node.expression, (exp.Null, exp.Boolean)):
            raise GuardError("IS must be followed by NULL, TRUE or FALSE")
        op = " IS NOT " if node.args.get("negate") else " IS "
        return sql.SQL("({}" + op + "{})").format(self.compile(node.this), self.compile(node.expression))

    def _in(self, node: exp.In) -> sql.Composable:
        self._only(node, "this", "expressions")
        if not node.expressions:
            raise GuardError("IN needs at least one value")
        left = self.compile(node.this)
        values = sql.SQL(", ").join(self.compile(e) for e in node.expressions)
        return sql.SQL("({} IN ({}))").format(left, values)

    def _between(self, node: exp.Between) -> sql.Composable:
        self._only(node, "this", "low", "high")
        return sql.SQL("({} BETWEEN {} AND {})").format(*(self.compile(node.args[k]) for k in ("this", "low", "high")))

    def _cast(self, node: exp.Cast) -> sql.Composable:
        self._only(node, "this", "to", "_type")
        to = node.args["to"]
        if to.this not in _CAST_TYPES or to.expressions:
            raise GuardError(f"cast to {to.sql('postgres')!r} is not allowed")
        return sql.SQL("CAST({} AS " + _CAST_TYPES[to.this] + ")").format(self.compile(node.this))

    def _interval(self, node: exp.Interval) -> sql.Composable:
        """`INTERVAL '<text>'` binds the text as written (sqlglot splits it into amount and unit,
        dropping what its pattern does not know, such as `ago` or `10:00`)."""
        self._only(node, "this", "unit")
        unit = node.args.get("unit")
        if not isinstance(node.this, exp.Literal) or (unit is not None and not isinstance(unit, exp.Var)):
            raise GuardError(f"interval {node.sql('postgres')!r} is not allowed")
        literal = self.source_literal("string", None)
        if literal.unit is None:
            return sql.SQL("CAST({} AS interval)").format(self.bind(literal.text))
        if literal.unit not in _INTERVAL_FIELDS or unit is None or unit.name.upper() != literal.unit:
            raise GuardError(f"interval unit {literal.unit!r} is not a PostgreSQL interval field "
                             f"({', '.join(sorted(_INTERVAL_FIELDS))}); or write INTERVAL '{literal.text} "
                             f"{literal.unit.lower()}'")
        if not _WHOLE_NUMBER.fullmatch(literal.text):
            raise GuardError(f"INTERVAL '{literal.text}' {literal.unit}: with a unit after it, the string must be a "
                             f"whole number; or write INTERVAL '{literal.text} {literal.unit.lower()}s'")
        # What PostgreSQL makes of INTERVAL 'n' UNIT. Not CAST(%s AS interval UNIT): a bound
        # parameter is read without the unit (as n seconds) and only then cast to the field.
        return sql.SQL("(CAST({} AS integer) * INTERVAL '1 " + literal.unit + "')").format(self.bind(literal.text))

    def _niladic(self, node: exp.Expression) -> sql.Composable:
        self._only(node)
        return sql.SQL(_NILADIC[type(node)])

    def _function(self, node: exp.Expression) -> sql.Composable:
        name, slots = _FUNCTIONS[type(node)]
        self._only(node, *slots)
        args = [a for slot in slots for a in _as_list(node.args.get(slot))]
        return sql.SQL(name + "({})").format(sql.SQL(", ").join(self.compile(a) for a in args))

    @staticmethod
    def _only(node: exp.Expression, *allowed: str) -> None:
        extra = [k for k, v in node.args.items() if v not in (None, False, []) and k not in allowed]
        if extra:
            raise GuardError(f"{node.key.upper()} with {', '.join(extra)} is not allowed")


_HANDLERS = {
    exp.Column: _Compiler._column, exp.Literal: _Compiler._literal, exp.Boolean: _Compiler._keyword,
    exp.Null: _Compiler._keyword, exp.Paren: _Compiler._paren, exp.Neg: _Compiler._neg, exp.Not: _Compiler._not,
    exp.And: _Compiler._connector, exp.Or: _Compiler._connector, exp.Is: _Compiler._is, exp.In: _Compiler._in,
    exp.Between: _Compiler._between, exp.Cast: _Compiler._cast, exp.Interval: _Compiler._interval,
    **dict.fromkeys(_BINARY, _Compiler._binary), **dict.fromkeys(_NILADIC, _Compiler._niladic),
    **dict.fromkeys(_FUNCTIONS, _Compiler._function),
}


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
