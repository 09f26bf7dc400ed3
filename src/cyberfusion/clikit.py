"""Shared pieces of the CLI: output in two modes, one error mapping, the database session."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from enum import Enum
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cyberfusion.config import get_settings
from cyberfusion.db import database_error, make_engine, make_sessionmaker, require_current_schema, transaction
from cyberfusion.errors import CyberfusionError

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


FormatOpt = typer.Option(OutputFormat.text, "--format", "-f", help="text for people, json for machines")


def _default(o: Any) -> Any:
    if isinstance(o, (datetime, date)):
        return o.isoformat()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def emit(data: Any, fmt: OutputFormat, *, columns: Sequence[str] | None = None, title: str | None = None) -> None:
    """Print a result: JSON only on stdout in json mode, a table or lines otherwise."""
    if fmt == OutputFormat.json:
        sys.stdout.write(json.dumps(data, default=_default, ensure_ascii=False) + "\n")
        return
    if isinstance(data, list) and columns:
        table = Table(title=title)
        for c in columns:
            table.add_column(c)
        for row in data:
            table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
        console.print(table)
    elif isinstance(data, dict):
        for k, v in data.items():
            console.print(f"[bold]{k}[/bold]: {v}")
    else:
        console.print(data)


def fail(exc: CyberfusionError, fmt: OutputFormat) -> None:
    if fmt == OutputFormat.json:
        sys.stderr.write(json.dumps({"error": exc.as_problem()}, default=_default) + "\n")
    else:
        err_console.print(f"[red]error:[/red] {exc.detail}", highlight=False)
        for p in exc.extra.get("errors", [])[1:20]:
            err_console.print(f"  also: {p}", highlight=False)
    raise typer.Exit(exc.exit_code)


def handled(fn: F) -> F:
    """Map every domain error to a message and exit code (0 ok, 1 failure, 2 bad input)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fmt = kwargs.get("fmt", OutputFormat.text)
        try:
            return fn(*args, **kwargs)
        except CyberfusionError as exc:
            fail(exc, fmt)
        except DBAPIError as exc:  # the database is down, full or read-only: say so, no traceback
            err = database_error(exc)
            if err is None:
                raise
            fail(err, fmt)

    return wrapper  # type: ignore[return-value]


@contextmanager
def session_scope(*, check_schema: bool = True) -> Iterator[Session]:
    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    try:
        if check_schema:
            require_current_schema(engine)
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


def parse_date(value: str | None, field: str) -> date | None:
    from cyberfusion.errors import InvalidInput
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"not a date (YYYY-MM-DD): {value!r}", field=field) from None


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]
