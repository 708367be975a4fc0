"""The review workspace: reviewers decide the pairs in doubt in the browser, in Vietnamese.

A small Starlette application started by ``dancu review serve`` (``make
review``), bound to 127.0.0.1 by default. Reviewers log in with a name and
password from the users file (``dancu.workspace.users``, scrypt hashes);
the session is a cookie signed with a key read from a key file (never a
default), ``SameSite=Strict``, and every form carries a CSRF token checked
on POST. A decision is stored under the logged-in user; "Apply" makes the
decisions in force take effect on the register at once (``apply_decisions``).

Pages: the queue (filter by province, batch, weight, kind of doubt and
verdict; search names with or without diacritics), a pair (both records
side by side with each field marked agree / close / differ / missing, the
per-field explanation, the weight waterfall, the thresholds, both
households, the decision history, Same / Different / Not sure with a note,
keyboard shortcuts), decisions awaiting a second reviewer, and the latest
PIN events. Pages come from Jinja2 templates with autoescaping; words from
the message catalogs (Vietnamese by default, English by a switch). No
external assets: the one script and the styles are served by the app.

The registry is opened per request and closed after it, so a batch run can
write between requests; while a batch holds it, a page says so.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import duckdb
import polars as pl
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dancu.settings import RunSettings
from dancu.stages import ApplySummary, anchor_audit, apply_decisions, writer_lock
from dancu.workspace.users import Users
from domain.vntext import fold, fold_expr
from pipelines.warehouse import REGISTRY_FILE, WarehouseLockedError, connect
from pipelines.warehouse.registry import (
    DecisionError,
    UnknownRecordError,
    awaiting_confirmation,
    confirm_decision,
    decision_history,
    recent_events,
    record_decision,
    review_queue,
)
from quality.explain import AGREEMENT
from quality.i18n import N_, environment, language, translations
from quality.pairs import households, review_pairs
from quality.report import DOUBT_NAMES

_HERE = Path(__file__).resolve().parent
#: Seconds a decision waits for another writer (a batch loading) before the page says busy.
_LOCK_WAIT = 10.0
TEMPLATES = _HERE / "templates"
CATALOGS = _HERE / "locale"
PAGE_SIZE = 50
VERDICT_NAMES = {
    "same": N_("same person"),
    "different": N_("different people"),
    "unsure": N_("not sure"),
}
EVENT_NAMES = {
    "issued": N_("issued"),
    "merged": N_("merged"),
    "split": N_("split"),
    "cancelled": N_("cancelled"),
    "retired": N_("retired"),
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:;"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def read_secret(path: Path) -> str:
    """The session-signing key from ``path``, created (32 random bytes, mode 0600) when missing.

    Raises:
        ValueError: The file is readable by others, or holds fewer than 32 characters.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    if path.stat().st_mode & 0o077:
        raise ValueError(f"'{path}' must be readable by its owner only (chmod 600)")
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise ValueError(f"'{path}' holds a key shorter than 32 characters")
    return secret


@dataclass(frozen=True)
class Filters:
    """The queue's filters, read from a query string."""

    province: str = ""
    batch: str = ""
    min_weight: float | None = None
    max_weight: float | None = None
    doubt: str = ""
    verdict: str = ""  # "" all / "undecided" / "unsure"
    q: str = ""
    page: int = 1

    @staticmethod
    def read(params: Any) -> Filters:
        def number(name: str) -> float | None:
            try:
                value = float(params.get(name, ""))
            except ValueError:
                return None
            return value if math.isfinite(value) else None

        try:
            page = max(1, int(params.get("page", "1")))
        except ValueError:
            page = 1
        return Filters(
            province=params.get("province", "")[:3],
            batch=params.get("batch", "")[:100],
            min_weight=number("min_weight"),
            max_weight=number("max_weight"),
            doubt=params.get("doubt", "")[:100],
            verdict=params.get("verdict", "")[:20],
            q=params.get("q", "")[:100],
            page=page,
        )

    def query(self, **changes: Any) -> str:
        """This filter set as a query string, with ``changes``."""
        values = {**self.__dict__, **changes}
        kept = {
            k: v for k, v in values.items() if v not in ("", None) and not (k == "page" and v == 1)
        }
        return urlencode(kept)

    def apply(self, queue: pl.DataFrame) -> pl.DataFrame:
        """The queue rows these filters keep (the name search folds diacritics away)."""
        kept = queue
        if self.province:
            kept = kept.filter(
                (pl.col("province_code_l") == self.province)
                | (pl.col("province_code_r") == self.province)
            )
        if self.batch:
            kept = kept.filter(pl.col("batch_id") == self.batch)
        if self.min_weight is not None:
            kept = kept.filter(pl.col("match_weight") >= self.min_weight)
        if self.max_weight is not None:
            kept = kept.filter(pl.col("match_weight") <= self.max_weight)
        if self.doubt:
            kept = kept.filter(pl.col("decided_by") == self.doubt)
        if self.verdict == "undecided":
            kept = kept.filter(pl.col("last_verdict").is_null())
        elif self.verdict == "unsure":
            kept = kept.filter(pl.col("last_verdict") == "unsure")
        needle = fold(self.q)
        if needle:
            kept = kept.filter(
                fold_expr(pl.col("full_name_l")).str.contains(needle, literal=True)
                | fold_expr(pl.col("full_name_r")).str.contains(needle, literal=True)
                | pl.col("record_key_l").str.contains(self.q.strip(), literal=True)
                | pl.col("record_key_r").str.contains(self.q.strip(), literal=True)
            )
        return kept


class _SecurityHeaders:
    """ASGI middleware: the same security headers on every response."""

    _HEADERS = (
        (b"content-security-policy", _CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"cache-control", b"no-store"),
        (b"x-frame-options", b"DENY"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self._HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class Workspace:
    """The application's state: where the registry is, the users, the settings."""

    def __init__(self, warehouse: Path, users: Users, settings: RunSettings) -> None:
        self.registry = warehouse / REGISTRY_FILE
        self.warehouse = warehouse
        self.users = users
        self.settings = settings
        self.keys = settings.require_keys()
        self._lock = threading.Lock()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for one request (one request at a time in this process)."""
        with self._lock, connect(self.registry, read_only=True) as con:
            yield con

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write connection for one request, holding the warehouse's writer lock.

        What the request wrote is anchored in the audit trail afterwards.
        """
        with (
            self._lock,
            writer_lock(self.warehouse, "dancu review serve", wait_seconds=_LOCK_WAIT),
            connect(self.registry) as con,
        ):
            yield con
            anchor_audit(self.warehouse, con, self.keys)

    def apply(self, actor: str) -> ApplySummary:
        """Apply the decisions in force now (holding the warehouse's writer lock)."""
        with (
            self._lock,
            writer_lock(self.warehouse, "dancu review serve: apply", wait_seconds=_LOCK_WAIT),
        ):
            return apply_decisions(self.warehouse, self.settings, actor=actor)


def _lang(request: Request) -> str:
    chosen = request.query_params.get("lang")
    if chosen:
        request.session["lang"] = language(chosen)
    return language(request.session.get("lang"))


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def _render(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    lang = _lang(request)
    env = environment(lang, templates=[TEMPLATES], catalogs=[CATALOGS])
    values.setdefault("error", None)
    page = env.get_template(name).render(
        user=request.session.get("user"),
        csrf=_csrf(request),
        path=request.url.path,
        here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        agreement=AGREEMENT,
        doubt_names=DOUBT_NAMES,
        verdicts=VERDICT_NAMES,
        events_names=EVENT_NAMES,
        message=request.session.pop("message", None),
        **values,
    )
    return HTMLResponse(page, status_code=status)


def _say(request: Request, text: str) -> None:
    """A message for the next page, in the user's language."""
    request.session["message"] = text


def _gettext(request: Request) -> Callable[[str], str]:
    return translations(_lang(request), [CATALOGS]).gettext


Endpoint = Callable[[Request], Awaitable[Response]]


def _login_required(endpoint: Endpoint) -> Endpoint:
    async def guarded(request: Request) -> Response:
        if not request.session.get("user"):
            return RedirectResponse("/login", status_code=303)
        if request.method == "POST":
            form = await request.form()
            if not secrets.compare_digest(str(form.get("csrf", "")), _csrf(request)):
                return PlainTextResponse("CSRF token missing or wrong", status_code=403)
        return await endpoint(request)

    return guarded


def _busy(request: Request, err: Exception) -> HTMLResponse:
    _ = _gettext(request)
    return _render(
        request,
        "error.html.j2",
        status=503,
        error=_("The registry is busy (a batch is loading). Try again in a moment."),
        detail=str(err).splitlines()[0],
    )


def create_app(warehouse: Path, users: Path, secret: str, settings: RunSettings) -> Starlette:
    """The workspace application for ``warehouse``."""
    work = Workspace(warehouse, Users(users), settings)

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return _render(request, "login.html.j2")
        form = await request.form()
        _ = _gettext(request)
        if not secrets.compare_digest(str(form.get("csrf", "")), _csrf(request)):
            return PlainTextResponse("CSRF token missing or wrong", status_code=403)
        name, password = str(form.get("username", "")), str(form.get("password", ""))
        if not work.users.check(name, password):
            return _render(
                request, "login.html.j2", status=401, error=_("Wrong user name or password.")
            )
        lang = request.session.get("lang")
        request.session.clear()
        request.session.update(user=name, csrf=secrets.token_urlsafe(32))
        if lang:
            request.session["lang"] = lang
        return RedirectResponse("/", status_code=303)

    @_login_required
    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @_login_required
    async def queue(request: Request) -> Response:
        filters = Filters.read(request.query_params)
        try:
            with work.read() as con:
                everything = review_queue(con)
                kept = filters.apply(everything)
                pages = max(1, math.ceil(kept.height / PAGE_SIZE))
                page = min(filters.page, pages)
                shown = kept.slice((page - 1) * PAGE_SIZE, PAGE_SIZE)
                waiting = awaiting_confirmation(con).height
        except (duckdb.IOException, WarehouseLockedError) as err:
            return _busy(request, err)
        provinces = sorted(
            set(everything["province_code_l"].drop_nulls())
            | set(everything["province_code_r"].drop_nulls())
        )
        return _render(
            request,
            "queue.html.j2",
            filters=filters,
            rows=shown.to_dicts(),
            total=everything.height,
            matched=kept.height,
            page=page,
            pages=pages,
            offset=(page - 1) * PAGE_SIZE,
            provinces=provinces,
            batches=sorted(set(everything["batch_id"])),
            doubts=sorted(set(everything["decided_by"])),
            waiting=waiting,
        )

    @_login_required
    async def pair(request: Request) -> Response:
        left, right = sorted((request.query_params.get("l", ""), request.query_params.get("r", "")))
        filters = Filters.read(request.query_params)
        try:
            with work.read() as con:
                found = review_pairs(con, [(left, right)])
                if not found:
                    return _render(
                        request,
                        "error.html.j2",
                        status=404,
                        error=_gettext(request)("No such pair."),
                        detail=f"{left} {right}",
                    )
                kept = filters.apply(review_queue(con))
                history = decision_history(con, left, right).to_dicts()
                homes = (households(con, left), households(con, right))
        except (duckdb.IOException, WarehouseLockedError) as err:
            return _busy(request, err)
        keys = list(zip(kept["record_key_l"], kept["record_key_r"], strict=True))
        position = keys.index((left, right)) if (left, right) in keys else -1
        after = keys[position + 1] if 0 <= position < len(keys) - 1 else None
        before = keys[position - 1] if position > 0 else None
        if position < 0 and keys:
            after = keys[0]
        return _render(
            request,
            "pair.html.j2",
            p=found[0],
            queued=found[0].decision == "review",
            history=history,
            homes=homes,
            thresholds=work.settings.match.thresholds,
            filters=filters,
            position=position,
            count=len(keys),
            next_pair=after,
            previous_pair=before,
        )

    @_login_required
    async def decide(request: Request) -> Response:
        form = await request.form()
        _ = _gettext(request)
        left, right = str(form.get("l", "")), str(form.get("r", ""))
        verdict, note = str(form.get("verdict", "")), str(form.get("note", ""))
        back = str(form.get("back", "/"))
        back = back if back.startswith("/") and not back.startswith("//") else "/"
        try:
            with work.write() as con:
                decision = record_decision(
                    con,
                    left,
                    right,
                    verdict=verdict,
                    reviewer=request.session["user"],
                    note=note,
                    audit_key=work.keys.audit,
                )
        except (DecisionError, UnknownRecordError) as err:
            _say(request, str(err))
            return RedirectResponse(back, status_code=303)
        except (duckdb.IOException, WarehouseLockedError) as err:
            return _busy(request, err)
        if decision.queued:
            _say(request, _("Decision #%(id)s saved.") % {"id": decision.decision_id})
        else:
            _say(
                request,
                _("Decision #%(id)s saved; another reviewer must confirm it.")
                % {"id": decision.decision_id},
            )
        target = str(form.get("next", "")) or back
        return RedirectResponse(
            target if target.startswith("/") and not target.startswith("//") else "/",
            status_code=303,
        )

    @_login_required
    async def confirmations(request: Request) -> Response:
        try:
            with work.read() as con:
                rows = awaiting_confirmation(con).to_dicts()
        except (duckdb.IOException, WarehouseLockedError) as err:
            return _busy(request, err)
        return _render(request, "confirmations.html.j2", rows=rows)

    @_login_required
    async def confirm(request: Request) -> Response:
        form = await request.form()
        _ = _gettext(request)
        try:
            decision_id = int(str(form.get("decision_id", "")))
            with work.write() as con:
                confirm_decision(
                    con, decision_id, request.session["user"], audit_key=work.keys.audit
                )
            _say(request, _("Decision #%(id)s confirmed.") % {"id": decision_id})
        except (DecisionError, ValueError) as err:
            _say(request, str(err))
        except (duckdb.IOException, WarehouseLockedError) as err:
            return _busy(request, err)
        return RedirectResponse("/confirmations", status_code=303)

    @_login_required
    async def apply(request: Request) -> Response:
        _ = _gettext(request)
        try:
            done = work.apply(request.session["user"])
        except (duckdb.IOException, WarehouseLockedError) as err:
            return _busy(request, err)
        if not done.decisions:
            _say(request, _("No decision waits to be applied."))
        else:
            events = ", ".join(
                f"{n} {_(EVENT_NAMES.get(kind, kind))}" for kind, n in sorted(done.events.items())
            )
            _say(
                request,
                _("%(n)s decisions applied; PIN events: %(events)s.")
                % {"n": done.decisions, "events": events or _("none")},
            )
        return RedirectResponse("/events", status_code=303)

    @_login_required
    async def events(request: Request) -> Response:
        try:
            with work.read() as con:
                rows = recent_events(con, 100).to_dicts()
        except (duckdb.IOException, WarehouseLockedError) as err:
            return _busy(request, err)
        return _render(request, "events.html.j2", rows=rows)

    async def script(request: Request) -> Response:
        return Response(
            (_HERE / "static" / "workspace.js").read_text("utf-8"),
            media_type="text/javascript; charset=utf-8",
        )

    app = Starlette(
        routes=[
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/", queue),
            Route("/pair", pair),
            Route("/decide", decide, methods=["POST"]),
            Route("/confirmations", confirmations),
            Route("/confirm", confirm, methods=["POST"]),
            Route("/apply", apply, methods=["POST"]),
            Route("/events", events),
            Route("/static/workspace.js", script),
        ],
        middleware=[
            Middleware(_SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie="dancu_review",
                max_age=8 * 3600,
                same_site="strict",
                https_only=False,
            ),
        ],
    )

    return app


def serve(
    warehouse: Path,
    *,
    users: Path,
    secret_file: Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    settings: RunSettings,
) -> None:
    """Run the workspace with uvicorn until interrupted.

    Raises:
        FileNotFoundError: No registry in ``warehouse``, or no users file.
    """
    import uvicorn

    if not (warehouse / REGISTRY_FILE).exists():
        raise FileNotFoundError(
            f"no registry at '{warehouse / REGISTRY_FILE}': run `dancu run` first"
        )
    if not Users(users).names():
        raise FileNotFoundError(
            f"no users in '{users}': add one with `dancu review user add NAME --users {users}`"
        )
    settings.require_keys()  # a clear error now, not at the first decision
    with (
        writer_lock(warehouse, "dancu review serve"),
        connect(warehouse / REGISTRY_FILE),
    ):
        pass  # a clear error now if the file is wrong; its schema brought up to date
    app = create_app(warehouse, users, read_secret(secret_file), settings)
    print(f"review workspace on http://{host}:{port}/ (stop with Ctrl-C)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
