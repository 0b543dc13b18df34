"""Turn a user's `condition` / `query` into SQL we build ourselves, or refuse it.

The text is parsed with sqlglot (postgres dialect) and compiled node by node from an allow-list:
columns of the table, literals, comparisons, AND/OR/NOT, IN, BETWEEN, IS [NOT] NULL/TRUE/FALSE,
[I]LIKE, + - * /, casts to simple types, intervals and a few pure functions. Anything else (other
tables, subqueries, a second statement, comments, unknown functions such as pg_sleep) raises
`GuardError`. Nothing of the user's text reaches PostgreSQL: identifiers become
`sql.Identifier`s of the resolved column names and literals become bind parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sqlglot
from psycopg import sql
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from archiveflow.errors import ArchiveflowError
from archiveflow.rdbms_archival.naming import UnknownName, resolve

MAX_TEXT = 4000

_BINARY = {
    exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=",
    exp.Like: "LIKE", exp.ILike: "ILIKE", exp.And: "AND", exp.Or: "OR",
    exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/",
}
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
_NILADIC = {exp.CurrentDate: "CURRENT_DATE", exp.CurrentTimestamp: "CURRENT_TIMESTAMP"}
_CAST_TYPES = {
    exp.DataType.Type.DATE: "date", exp.DataType.Type.TIMESTAMP: "timestamp",
    exp.DataType.Type.TIMESTAMPTZ: "timestamptz", exp.DataType.Type.SMALLINT: "smallint",
    exp.DataType.Type.INT: "integer", exp.DataType.Type.BIGINT: "bigint",
    exp.DataType.Type.DECIMAL: "numeric", exp.DataType.Type.DOUBLE: "double precision",
    exp.DataType.Type.TEXT: "text", exp.DataType.Type.VARCHAR: "varchar", exp.DataType.Type.BOOLEAN: "boolean",
}
_INTERVAL_UNITS = {"YEAR", "YEARS", "MONTH", "MONTHS", "WEEK", "WEEKS", "DAY", "DAYS", "HOUR", "HOURS",
                   "MINUTE", "MINUTES", "SECOND", "SECONDS"}
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


def compile_selection(table: Table, condition: str | None, query: str | None) -> Selection:
    """Both given: the rows must satisfy the query's WHERE and the condition. Raises GuardError
    with the offending field ('condition' or 'query') at the start of its message."""
    columns, clauses, params = table.columns, [], []
    if query is not None:
        try:
            columns, where = _compile_query(table, query, params)
        except GuardError as e:
            raise GuardError(f"query: {e}") from None
        if where is not None:
            clauses.append(where)
    if condition is not None:
        try:
            clauses.append(_Compiler(table, params).predicate(_parse_single(condition)))
        except GuardError as e:
            raise GuardError(f"condition: {e}") from None
    where = sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("TRUE")
    return Selection(columns=columns, where=where, params=tuple(params))


def _parse_single(text: str) -> exp.Expression:
    if not text or not text.strip():
        raise GuardError("is empty")
    if len(text) > MAX_TEXT:
        raise GuardError(f"is longer than {MAX_TEXT} characters")
    try:
        tokens = sqlglot.Dialect.get_or_raise("postgres").tokenize(text)
        if any(token.comments for token in tokens):
            raise GuardError("comments are not allowed")
        if any(token.token_type is TokenType.SEMICOLON for token in tokens):
            raise GuardError("must be exactly one expression/statement (no ';')")
        (statement,) = sqlglot.parse(text, read="postgres")
    except SqlglotError as e:
        raise GuardError(f"cannot be parsed: {str(e).splitlines()[0]}") from None
    return statement


def _compile_query(table: Table, text: str, params: list) -> tuple[tuple[str, ...], sql.Composable | None]:
    stmt = _parse_single(text)
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
    compiler = _Compiler(table, params)
    if all(isinstance(p, exp.Star) for p in stmt.expressions):
        columns = table.columns
    else:
        columns = tuple(dict.fromkeys(compiler.column_name(p) for p in stmt.expressions))
    where = stmt.args.get("where")
    return columns, compiler.predicate(where.this) if where else None


def _same_name(identifier: exp.Expression, expected: str, what: str) -> None:
    if not isinstance(identifier, exp.Identifier):
        raise GuardError(f"{what} must be a plain name")
    try:
        resolve(identifier.name, [expected], what=what, quoted=identifier.quoted, sql_identifier=True)
    except UnknownName:
        raise GuardError(f"{what} {identifier.name!r} is not {expected!r}: only the table itself may be read") from None


class _Compiler:
    def __init__(self, table: Table, params: list):
        self.table, self.params = table, params

    def predicate(self, node: exp.Expression) -> sql.Composable:
        inner = node
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if not isinstance(inner, _PREDICATES):
            raise GuardError(f"must be a boolean expression, got {inner.key.upper()}")
        return self.compile(node)

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

    def compile(self, node: exp.Expression) -> sql.Composable:
        kind = type(node)
        if kind is exp.Column:
            return sql.Identifier(self.column_name(node))
        if kind is exp.Literal:
            return self.bind(node.this if node.is_string else _number(node.this))
        if kind is exp.Boolean:
            return sql.SQL("TRUE" if node.this else "FALSE")
        if kind is exp.Null:
            return sql.SQL("NULL")
        if kind is exp.Paren:
            return sql.SQL("({})").format(self.compile(node.this))
        if kind is exp.Neg:
            return sql.SQL("(- {})").format(self.compile(node.this))
        if kind is exp.Not:
            return sql.SQL("(NOT {})").format(self.compile(node.this))
        if kind in _BINARY:
            self._only(node, "this", "expression")
            return sql.SQL("({} " + _BINARY[kind] + " {})").format(self.compile(node.left), self.compile(node.right))
        if kind is exp.Is:
            self._only(node, "this", "expression", "negate")
            if not isinstance(node.expression, (exp.Null, exp.Boolean)):
                raise GuardError("IS must be followed by NULL, TRUE or FALSE")
            op = " IS NOT " if node.args.get("negate") else " IS "
            return sql.SQL("({}" + op + "{})").format(self.compile(node.this), self.compile(node.expression))
        if kind is exp.In:
            self._only(node, "this", "expressions")
            values = sql.SQL(", ").join(self.compile(e) for e in node.expressions)
            return sql.SQL("({} IN ({}))").format(self.compile(node.this), values)
        if kind is exp.Between:
            self._only(node, "this", "low", "high")
            return sql.SQL("({} BETWEEN {} AND {})").format(*(self.compile(node.args[k]) for k in ("this", "low", "high")))
        if kind is exp.Cast:
            return self._cast(node)
        if kind is exp.Interval:
            return self._interval(node)
        if kind in _NILADIC:
            self._only(node)
            return sql.SQL(_NILADIC[kind])
        if kind in _FUNCTIONS:
            name, slots = _FUNCTIONS[kind]
            self._only(node, *slots)
            args = [a for slot in slots for a in _as_list(node.args.get(slot))]
            return sql.SQL(name + "({})").format(sql.SQL(", ").join(self.compile(a) for a in args))
        what = node.name if isinstance(node, exp.Anonymous) else node.key.upper()
        raise GuardError(f"{what!r} is not allowed ({node.sql('postgres')[:80]!r})")

    def _cast(self, node: exp.Cast) -> sql.Composable:
        self._only(node, "this", "to", "_type")
        to = node.args["to"]
        if to.this not in _CAST_TYPES or to.expressions:
            raise GuardError(f"cast to {to.sql('postgres')!r} is not allowed")
        return sql.SQL("CAST({} AS " + _CAST_TYPES[to.this] + ")").format(self.compile(node.this))

    def _interval(self, node: exp.Interval) -> sql.Composable:
        self._only(node, "this", "unit")
        amount, unit = node.this, node.args.get("unit")
        unit_name = unit.name.upper() if unit is not None else ""
        if not isinstance(amount, exp.Literal) or (unit is not None and unit_name not in _INTERVAL_UNITS):
            raise GuardError(f"interval {node.sql('postgres')!r} is not allowed")
        return sql.SQL("CAST({} AS interval)").format(self.bind(f"{amount.this} {unit_name}".strip()))

    @staticmethod
    def _only(node: exp.Expression, *allowed: str) -> None:
        extra = [k for k, v in node.args.items() if v not in (None, False, []) and k not in allowed]
        if extra:
            raise GuardError(f"{node.key.upper()} with {', '.join(extra)} is not allowed")


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _number(text: str) -> int | Decimal:
    try:
        return int(text) if text.isdigit() else Decimal(text)
    except InvalidOperation:
        raise GuardError(f"{text!r} is not a number") from None
