"""Loopback HTTP servers that speak the vLLM, Ollama, Vast.ai and Slack wire protocols and record calls.

They stand in for outside systems only; our own clients (httpx, slack_sdk, smtplib) talk to them for real.
``SmtpServer`` is a real SMTP server (aiosmtpd) on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Reply:
    """A scripted answer: JSON (dict/list) or raw text/bytes, with status, headers and a delay."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Call:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.raw.decode()).items()}

    def params(self) -> dict[str, Any]:
        """The body as JSON or form fields, whichever it is."""
        if self.headers.get("content-type", "").startswith("application/json"):
            return self.json() or {}
        return self.form()


Handler = Callable[[Call], Reply]


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 answering from routes, with one-shot scripted replies first."""

    def __init__(self, port: int = 0):
        self.calls: list[Call] = []
        self._routes: dict[tuple[str, str], Handler] = {}
        self._patterns: list[tuple[str, re.Pattern[str], Callable[..., Reply]]] = []
        self._scripted: dict[tuple[str, str], list[Reply]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def route(self, method: str, path: str, handler: Handler | Reply) -> None:
        """Answer ``method path`` with a fixed reply or a handler."""
        self._routes[(method, path)] = handler if callable(handler) else (lambda call, r=handler: r)

    def pattern(self, method: str, regex: str, handler: Callable[..., Reply]) -> None:
        """Answer paths matching ``regex``; the handler gets the call and the match groups."""
        self._patterns.append((method, re.compile(regex), handler))

    def script(self, method: str, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``method path`` with ``replies`` in order, then fall back to routes."""
        with self._lock:
            self._scripted.setdefault((method, path), []).extend(replies)

    def calls_to(self, path: str, method: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.path == path and (method is None or c.method == method)]

    def _dispatch(self, call: Call) -> Reply:
        with self._lock:
            self.calls.append(call)
            queue = self._scripted.get((call.method, call.path))
            if queue:
                return queue.pop(0)
        handler = self._routes.get((call.method, call.path))
        if handler:
            return handler(call)
        for method, regex, pattern_handler in self._patterns:
            match = regex.fullmatch(call.path)
            if method == call.method and match:
                return pattern_handler(call, *match.groups())
        return Reply(404, {"error": f"no route for {call.method} {call.path}"})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                call = Call(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    raw=raw,
                )
                reply = server._dispatch(call)
                if reply.delay:
                    time.sleep(reply.delay)
                if isinstance(reply.body, (dict, list)):
                    payload, ctype = json.dumps(reply.body).encode(), "application/json"
                elif isinstance(reply.body, bytes):
                    payload, ctype = reply.body, "application/octet-stream"
                else:
                    payload, ctype = str(reply.body or "").encode(), "text/plain"
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": ctype, **reply.headers}
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

        return _Handler


def vllm_server(models: tuple[str, ...] = ("llama-2-7b",), port: int = 0) -> LoopbackServer:
    """vLLM's OpenAI-compatible server: ``GET /health`` and ``GET /v1/models``."""
    server = LoopbackServer(port)
    server.route("GET", "/health", Reply(200, ""))
    server.route(
        "GET",
        "/v1/models",
        Reply(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "vllm"} for m in models]}),
    )
    return server


def ollama_server(models: tuple[str, ...] = ("llama2:7b",), port: int = 0) -> LoopbackServer:
    """Ollama: ``GET /api/tags``."""
    server = LoopbackServer(port)
    server.route(
        "GET",
        "/api/tags",
        Reply(200, {"models": [{"name": m, "model": m, "size": 3825819519, "digest": "sha256:x"} for m in models]}),
    )
    return server


class SlackServer(LoopbackServer):
    """Slack's Web API under ``/api/``: chat.postMessage, conversations.list and the files v2 upload flow."""

    def __init__(self, token: str = "xoxb-test-token", channels: dict[str, str] | None = None):
        super().__init__()
        self.token = token
        self.channels = channels or {
            "platform-alerts": "C0ALERTS",
            "platform-updates": "C0UPDATES",
            "incidents": "C0INCIDENTS",
        }
        self.messages: list[dict[str, Any]] = []
        self.files: list[dict[str, Any]] = []
        # Seconds chat.postMessage takes before it answers (a slow Slack); the message counts once answered.
        self.post_delay = 0.0
        # User groups by handle (usergroups.list), for SLACK_ONCALL_MENTION.
        self.usergroups: dict[str, str] = {"platform-ops": "S0PLATFORMOPS"}
        self._uploads: dict[str, dict[str, Any]] = {}
        self.route("POST", "/api/chat.postMessage", self._post_message)
        self.route("POST", "/api/conversations.list", self._conversations)
        self.route("POST", "/api/usergroups.list", self._usergroups)
        self.route("GET", "/api/usergroups.list", self._usergroups)
        self.route("POST", "/api/files.getUploadURLExternal", self._upload_url)
        self.route("POST", "/api/files.completeUploadExternal", self._complete_upload)
        self.pattern("POST", r"/upload/(\w+)", self._receive_upload)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def _authorized(self, call: Call) -> bool:
        return call.headers.get("authorization") == f"Bearer {self.token}"

    def _post_message(self, call: Call) -> Reply:
        if not self._authorized(call):
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        params = call.params()
        channel = params.get("channel", "")
        if self.post_delay:
            time.sleep(self.post_delay)
        if channel.lstrip("#") not in self.channels and channel not in self.channels.values():
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        ts = f"{time.time():.6f}"
        self.messages.append({"channel": channel, "text": params.get("text", ""), "ts": ts})
        return Reply(200, {"ok": True, "channel": channel, "ts": ts, "message": {"text": params.get("text")}})

    def _conversations(self, call: Call) -> Reply:
        if not self._authorized(call):
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        channels = [{"id": cid, "name": name} for name, cid in self.channels.items()]
        return Reply(200, {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}})

    def _usergroups(self, call: Call) -> Reply:
        if not self._authorized(call):
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        groups = [{"id": gid, "handle": handle, "name": handle.title()} for handle, gid in self.usergroups.items()]
        return Reply(200, {"ok": True, "usergroups": groups})

    def _upload_url(self, call: Call) -> Reply:
        params = call.params()
        file_id = f"F{len(self._uploads) + 1:04d}"
        self._uploads[file_id] = {"filename": params.get("filename"), "length": int(params.get("length", 0))}
        return Reply(200, {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id})

    def _receive_upload(self, call: Call, file_id: str) -> Reply:
        self._uploads[file_id]["content"] = call.raw
        return Reply(200, "OK")

    def _complete_upload(self, call: Call) -> Reply:
        params = call.params()
        files = json.loads(params["files"]) if isinstance(params.get("files"), str) else params.get("files", [])
        done = []
        for item in files:
            upload = self._uploads[item["id"]]
            record = {
                "id": item["id"],
                "title": item.get("title"),
                "filename": upload["filename"],
                "content": upload.get("content", b""),
                "channel": params.get("channel_id"),
                "initial_comment": params.get("initial_comment"),
            }
            self.files.append(record)
            done.append({"id": item["id"], "title": item.get("title")})
        return Reply(200, {"ok": True, "files": done})


# Keys of the official client's bodies that say who and which, not what to store.
_CALL_KEYS = frozenset({"client_id", "api_key", "endptjob_id", "autojob_id", "autoscaler_instance"})


def _stored(body: Any) -> dict[str, Any]:
    """The fields of a create/update body to keep: given (not null) and not the call's own keys."""
    return {k: v for k, v in (body or {}).items() if v is not None and k not in _CALL_KEYS}


class VastServer(LoopbackServer):
    """Vast.ai's serverless API (endptjobs, workergroups), billing (charges, users/current) and the autoscaler
    (get_endpoint_workers, route), answering in the shapes Vast.ai's official client (``vastai``) parses.

    Requires ``Authorization: Bearer <api_key>`` (``/route/``: the endpoint's own key); keeps endpoints
    and worker groups in memory. Worker groups answer at ``/api/v0/workergroups/`` (Vast.ai's REST reference)
    and ``/api/v0/autojobs/`` (where vastai's CLI calls them). A create or update keeps the fields given, a
    null leaving a field as it is. A new worker group starts one worker that is ``creating``, then
    ``loading``, and becomes ready (``idle``) on the ``ready_after``-th ``/route/`` call, when
    ``worker_url`` says where ready workers serve; ``/route/`` then answers with that URL.
    """

    def __init__(self, api_key: str = "vast-test-key", worker_url: str | None = None, ready_after: int = 1):
        super().__init__()
        self.api_key = api_key
        self.worker_url = worker_url
        self.ready_after = ready_after
        self.endpoints: dict[int, dict[str, Any]] = {}
        self.workergroups: dict[int, dict[str, Any]] = {}
        self.workers: dict[int, list[dict[str, Any]]] = {}
        self.route_calls: dict[int, int] = {}
        self._next_id = 100
        self.route("GET", "/api/v0/endptjobs/", self._list_endpoints)
        self.route("POST", "/api/v0/endptjobs/", self._create_endpoint)
        self.pattern("GET", r"/api/v0/endptjobs/(\d+)/", self._get_endpoint)
        self.pattern("PUT", r"/api/v0/endptjobs/(\d+)/", self._update_endpoint)
        self.pattern("DELETE", r"/api/v0/endptjobs/(\d+)/", self._delete_endpoint)
        for base in ("/api/v0/workergroups/", "/api/v0/autojobs/"):
            self.route("GET", base, self._list_workergroups)
            self.route("POST", base, self._create_workergroup)
            self.pattern("PUT", base + r"(\d+)/", self._update_workergroup)
        self.route("POST", "/get_endpoint_workers/", self._endpoint_workers)
        self.charges: list[dict[str, Any]] = []
        self.route("GET", "/api/v0/charges/", self._charges)
        self.user: dict[str, Any] = {
            "id": 4242,
            "username": "bluefly",
            "email": "platform-ops@bluefly.io",
            "credit": 87.5,
            "balance": 0.0,
            "api_key": api_key,
        }
        self.route("GET", "/api/v0/users/current", lambda call: Reply(200, self.user))
        self.route("POST", "/route/", self._route)

    def add_charge(
        self, day: Any, amount: float, kind: str = "serverless", endpoint_id: int | None = None
    ) -> dict[str, Any]:
        """A charge row as ``/api/v0/charges/`` answers it: ``type``, ``source``, ``amount``, ``start``/``end``
        (epoch seconds of the UTC day), ``description``, ``items`` and ``metadata``."""
        from datetime import UTC, datetime, time, timedelta

        start = datetime.combine(day, time(), UTC)
        row = {
            "type": kind,
            "source": f"{kind}-{endpoint_id or 0}",
            "amount": amount,
            "start": int(start.timestamp()),
            "end": int((start + timedelta(days=1)).timestamp()) - 1,
            "description": f"{kind} charges",
            "items": [],
            "metadata": {"endpoint_id": endpoint_id, "workergroup_id": None},
        }
        self.charges.append(row)
        return row

    def _charges(self, call: Call) -> Reply:
        """Filtered by ``select_filters`` (``day`` gte/lte, ``type`` in), ``limit`` rows a page, ``after_token``."""
        filters = json.loads(call.query.get("select_filters", ["{}"])[0])
        day = filters.get("day", {})
        kinds = filters.get("type", {}).get("in")
        rows = [
            r
            for r in self.charges
            # A malformed row (a fault test) is answered as it is.
            if not isinstance(r.get("start"), (int, float))
            or (
                day.get("gte", float("-inf")) <= r["start"] <= day.get("lte", float("inf"))
                and (not kinds or r.get("type") in kinds)
            )
        ]
        limit = int(call.query.get("limit", ["20"])[0])
        offset = int(call.query.get("after_token", ["0"])[0])
        page = rows[offset : offset + limit]
        token = str(offset + limit) if offset + limit < len(rows) else None
        return Reply(200, {"results": page, "count": len(page), "total": len(rows), "next_token": token})

    def add_endpoint(
        self, name: str, state: str = "active", workers: list[dict[str, Any]] | None = None, **fields: Any
    ) -> int:
        endpoint_id = self._new_id()
        self.endpoints[endpoint_id] = {
            "id": endpoint_id,
            "endpoint_name": name,
            "endpoint_state": state,
            "min_load": 0.0,
            "min_cold_load": 0.0,
            "target_util": 0.9,
            "cold_mult": 2.5,
            "cold_workers": 0,
            "max_workers": 3,
            "inactivity_timeout": 300,
            "api_key": f"endpoint-secret-{endpoint_id}",
            **fields,
        }
        self.workers[endpoint_id] = workers or []
        return endpoint_id

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _authorized(self, call: Call) -> bool:
        if call.path == "/route/":
            keys = {f"Bearer {e['api_key']}" for e in self.endpoints.values()}
            return call.headers.get("authorization") in keys
        return call.headers.get("authorization") == f"Bearer {self.api_key}"

    def _dispatch(self, call: Call) -> Reply:
        if not self._authorized(call):
            with self._lock:
                self.calls.append(call)
            return Reply(401, {"success": False, "error": "invalid_user_key", "msg": "Invalid user key"})
        return super()._dispatch(call)

    def _list_endpoints(self, call: Call) -> Reply:
        return Reply(200, {"success": True, "results": list(self.endpoints.values())})

    def _create_endpoint(self, call: Call) -> Reply:
        endpoint_id = self._new_id()
        self.endpoints[endpoint_id] = {
            "id": endpoint_id,
            "endpoint_state": "active",
            "api_key": f"endpoint-secret-{endpoint_id}",
            **_stored(call.json()),
        }
        self.workers[endpoint_id] = []
        return Reply(200, {"success": True, "result": endpoint_id})

    def _get_endpoint(self, call: Call, endpoint_id: str) -> Reply:
        endpoint = self.endpoints.get(int(endpoint_id))
        if endpoint is None:
            return Reply(404, {"success": False, "msg": "endpoint not found"})
        return Reply(200, {"success": True, "results": [endpoint]})

    def _update_endpoint(self, call: Call, endpoint_id: str) -> Reply:
        endpoint = self.endpoints.get(int(endpoint_id))
        if endpoint is None:
            return Reply(404, {"success": False, "msg": "endpoint not found"})
        endpoint.update(_stored(call.json()))
        return Reply(200, {"success": True})

    def _delete_endpoint(self, call: Call, endpoint_id: str) -> Reply:
        if self.endpoints.pop(int(endpoint_id), None) is None:
            return Reply(404, {"success": False, "msg": "endpoint not found"})
        self.workers.pop(int(endpoint_id), None)
        return Reply(200, {"success": True})

    def _list_workergroups(self, call: Call) -> Reply:
        return Reply(200, {"success": True, "results": list(self.workergroups.values())})

    def _create_workergroup(self, call: Call) -> Reply:
        group_id = self._new_id()
        body = _stored(call.json())
        self.workergroups[group_id] = {"id": group_id, **body}
        endpoint_id = int(body.get("endpoint_id") or 0)
        if endpoint_id in self.endpoints and not self.workers.get(endpoint_id):
            self.workers[endpoint_id] = [
                {"id": self._new_id(), "status": "creating", "cur_load": 0.0, "measured_perf": None}
            ]
        # The REST reference answers "result"; vastai's serverless client reads "id".
        return Reply(200, {"success": True, "result": group_id, "id": group_id})

    def _update_workergroup(self, call: Call, group_id: str) -> Reply:
        group = self.workergroups.get(int(group_id))
        if group is None:
            return Reply(404, {"success": False, "msg": "workergroup not found"})
        group.update(_stored(call.json()))
        return Reply(200, {"success": True})

    def _endpoint_workers(self, call: Call) -> Reply:
        endpoint_id = int(call.json()["id"])
        return Reply(200, self.workers.get(endpoint_id, []))

    def _route(self, call: Call) -> Reply:
        body = call.json()
        matches = [e for e in self.endpoints.values() if e["endpoint_name"] == body.get("endpoint")]
        if not matches or matches[0]["api_key"] != body.get("api_key"):
            return Reply(401, {"success": False, "msg": "invalid endpoint or api_key"})
        endpoint_id = matches[0]["id"]
        polls = self.route_calls[endpoint_id] = self.route_calls.get(endpoint_id, 0) + 1
        workers = self.workers.get(endpoint_id, [])
        idx = body.get("request_idx") or 1000 + endpoint_id
        ready = [w for w in workers if w["status"] in ("idle", "running", "ready")]
        if not ready and workers and self.worker_url and polls >= self.ready_after:
            workers[0]["status"] = "idle"
            ready = [workers[0]]
        elif not ready:
            for worker in workers:
                worker["status"] = "loading" if worker["status"] == "creating" else worker["status"]
        if ready and self.worker_url:
            return Reply(
                200,
                {"url": self.worker_url, "reqnum": polls, "signature": "sig-not-a-secret", "request_idx": idx},
            )
        return Reply(200, {"status": "no ready workers", "request_idx": idx})


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    """An SMTP server (aiosmtpd) on 127.0.0.1 that records messages.

    ``user``/``password`` require a login; ``tls`` (an ``ssl.SSLContext``) offers STARTTLS, or with
    ``implicit_tls`` speaks TLS from the first byte (smtps). Set ``refuse`` to an SMTP reply such as
    ``"451 4.3.0 try again later"`` to turn messages away.
    """

    def __init__(
        self,
        user: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ):
        self.user, self.password = user, password
        self.messages: list[EmailMessage] = []
        self.refuse: str | None = None
        self.logins: list[str] = []
        self.port = free_port()
        self.scheme = "smtps" if implicit_tls else "smtp+starttls" if tls else "smtp"
        kwargs: dict[str, Any] = {}
        if user:
            # aiosmtpd counts only STARTTLS as TLS; an smtps connection is encrypted from the start.
            kwargs.update(authenticator=self._authenticate, auth_require_tls=tls is not None and not implicit_tls)
        if tls and implicit_tls:
            kwargs["ssl_context"] = tls
        elif tls:
            kwargs.update(tls_context=tls, require_starttls=True)
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()

    @property
    def url(self) -> str:
        """SMTP_URL for this server (with the login, URL-quoted, when one is required)."""
        login = f"{quote(self.user, safe='')}:{quote(self.password or '', safe='')}@" if self.user else ""
        return f"{self.scheme}://{login}127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == (
            self.user,
            self.password,
        )
        if ok:
            self.logins.append(self.user or "")
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse:
            return self.refuse
        self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"
