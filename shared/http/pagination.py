"""Keyset pagination with opaque, tamper-proof cursors: one `Pager` for every list endpoint of the suite.

A cursor names the last row of a page by its sort key, and is signed (HMAC-SHA256 with a key derived
from the settings, `cursor_key`), so a client can only hand back a cursor the server issued. It is
bound to the route, the agency and the filters it was issued for, and expires after `CURSOR_TTL`; any
other cursor (forged, truncated, another route's, another filter's, stale) answers 400 `invalid-cursor`,
before any of its content reaches a query.

    pager = Pager(call, Delivery.created_at.desc(), Delivery.id.desc())
    rows = session.scalars(pager.apply(statement)).all()
    page, next_cursor = pager.page(rows, key=lambda row: (row.created_at, row.id))

Ranked lists whose order is computed (the service search) page by a signed offset instead
(`pager.offset`, `pager.page(rows, offset=True)`): the offset is unforgeable, so it is one the server
handed out.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import and_, false, or_
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from shared.http.problems import BadRequest

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
    from sqlalchemy.sql import Select

    from shared.http.api import Call

T = TypeVar("T")
R = TypeVar("R")
MAX_LIMIT = 200
MAX_CURSOR_LENGTH = 500
CURSOR_VERSION = 1
CURSOR_TTL = dt.timedelta(hours=24)
_SIGNATURE_BYTES = 16


class PageQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT, description="items per page")
    # Not constrained here: every cursor the server did not issue (too long included) is a 400 invalid-cursor.
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page (opaque, signed)")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class InvalidCursor(BadRequest):
    slug, title = "invalid-cursor", "Invalid cursor"

    def __init__(self, why: str):
        super().__init__(f"the cursor is not one this API issued for this list ({why}); start again without it",
                         errors=[{"field": "cursor", "message": why, "type": "cursor"}])


def derive_cursor_key(secret: str | bytes) -> bytes:
    """The cursor signing key, derived from a server secret (never the secret itself)."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, b"diversion cursor signing key v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return {"dt": aware.astimezone(dt.UTC).isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)  # e.g. an enum value or a UUID


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"dt"}:
            return dt.datetime.fromisoformat(value["dt"])
        if set(value) == {"d"}:
            return dt.date.fromisoformat(value["d"])
        raise ValueError("unknown value")
    if value is None or isinstance(value, (str, int, bool)):
        return value
    raise ValueError("unknown value")


class Pager:
    """The page a call asks for: its limit, and where its cursor says the previous page ended."""

    def __init__(self, call: Call, *order: Any, offset: bool = False):
        """`order`: the sort key, columns or `column.desc()`, unique together (the id last)."""
        query = call.query
        self.limit: int = int(getattr(query, "limit", 50))
        self._order = [self._split(item) for item in order]
        self._key = call.cursor_key
        self._scope = {
            "v": CURSOR_VERSION, "r": call.route, "a": call.identity.agency if call.identity else "",
            "f": self._filters(query), "m": "o" if offset else "k",
        }
        self.offset = 0
        self.after: tuple[Any, ...] | None = None
        cursor = getattr(query, "cursor", None)
        if cursor:
            values = self._verify(cursor)
            if offset:
                if not isinstance(values, int) or isinstance(values, bool) or values < 0:
                    raise InvalidCursor("malformed")
                self.offset = values
            else:
                if not isinstance(values, list) or len(values) != len(self._order):
                    raise InvalidCursor("malformed")
                try:
                    self.after = tuple(_decode_value(value) for value in values)
                except (ValueError, TypeError, KeyError):
                    raise InvalidCursor("malformed") from None

    @staticmethod
    def _split(item: Any) -> tuple[ColumnElement[Any], bool]:
        if isinstance(item, UnaryExpression) and item.modifier in (operators.desc_op, operators.asc_op):
            return item.element, item.modifier is operators.desc_op
        return item, False

    @staticmethod
    def _filters(query: Any) -> str:
        if not isinstance(query, BaseModel):
            return ""
        filters = query.model_dump(mode="json", exclude={"cursor", "limit"})
        return hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[:16]

    # -- cursors --------------------------------------------------------------------------------
    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES])

    def _issue(self, values: Any) -> str:
        payload = json.dumps({**self._scope, "t": int(time.time()), "k": values}, separators=(",", ":"),
                             sort_keys=True).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    def _verify(self, cursor: str) -> Any:
        if not self._key:
            raise InvalidCursor("cursors are not enabled")
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursor("too long")
        body, dot, signature = cursor.partition(".")
        if not dot or not body or not signature:
            raise InvalidCursor("malformed")
        try:
            payload = _unb64(body)
            given = _unb64(signature)
        except (ValueError, TypeError):
            raise InvalidCursor("malformed") from None
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        if not hmac.compare_digest(given, expected):
            raise InvalidCursor("bad signature")
        try:
            document = json.loads(payload)
        except ValueError:
            raise InvalidCursor("malformed") from None
        if not isinstance(document, dict) or any(document.get(name) != value for name, value in self._scope.items()):
            raise InvalidCursor("issued for another list, agency or filter")
        issued = document.get("t")
        if not isinstance(issued, int) or not -60 <= time.time() - issued <= CURSOR_TTL.total_seconds():
            raise InvalidCursor("stale")
        return document.get("k")

    # -- queries --------------------------------------------------------------------------------
    @property
    def fetch(self) -> int:
        """Rows to ask for: one more than a page, to know whether another follows."""
        return self.limit + 1

    def where(self) -> ColumnElement[bool] | None:
        """Rows strictly after the cursor in the declared order (None on the first page)."""
        if self.after is None:
            return None
        clauses: list[ColumnElement[bool]] = []
        for index, (column, descending) in enumerate(self._order):
            equal = [self._order[i][0] == self.after[i] for i in range(index)]
            value = self.after[index]
            beyond = column < value if descending else column > value
            clauses.append(and_(*equal, beyond) if equal else beyond)
        return or_(false(), *clauses)

    def apply(self, statement: Select[Any]) -> Select[Any]:
        """`statement` restricted to this page: after the cursor, in the order, limit + 1 rows."""
        if self._order:
            condition = self.where()
            if condition is not None:
                statement = statement.where(condition)
            statement = statement.order_by(*(column.desc() if descending else column.asc()
                                             for column, descending in self._order))
        statement = statement.limit(self.fetch)
        if self.offset:
            statement = statement.offset(self.offset)
        return statement

    def next_offset(self, count: int, more: bool) -> str | None:
        """For a list paged elsewhere by offset (`self.offset`): the cursor after `count` more rows."""
        return self._issue(self.offset + count) if more and count else None

    def page(self, rows: Sequence[R], key: Callable[[R], Sequence[Any]] | None = None) -> tuple[list[R], str | None]:
        """The rows of this page and the cursor of the next one (None on the last page)."""
        items = list(rows[: self.limit])
        if len(rows) <= self.limit or not items:
            return items, None
        if key is None:
            return items, self._issue(self.offset + len(items))
        return items, self._issue([_encode_value(value) for value in key(items[-1])])


def paginate(session: Session, call: Call, statement: Select[Any], *, order: Sequence[Any],
             key: Callable[[Any], Sequence[Any]], scalars: bool = True) -> tuple[list[Any], str | None]:
    """One keyset page of `statement` for `call`: the rows (ORM objects with `scalars`, else row mappings)
    and the next page's cursor.

        rows, next_cursor = paginate(db, call, select(Delivery), order=(Delivery.created_at.desc(),
                                     Delivery.id.desc()), key=lambda d: (d.created_at, d.id))
    """
    pager = Pager(call, *order)
    paged = pager.apply(statement)
    rows: Sequence[Any] = session.scalars(paged).all() if scalars else session.execute(paged).mappings().all()
    return pager.page(rows, key=key)
