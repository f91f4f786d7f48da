"""Commands that reach their service: each worker serves its own service's commands, so
over Kafka no process but the service itself opens the service's store for writing.

- `CommandEndpoint` runs inside a worker (a `Companion` of services/runtime/kafka/worker.py):
  a small HTTP server on loopback takes a command, and the worker's own loop runs it on the
  application between two steps (one thread touches the store, as before). It announces
  itself in `<home>/run/commands/<service>-<pid>.json`.
- `RemoteCommands` is what a command line or `cases serve` holds instead of the
  application: calling one of the service's command methods sends it to a live endpoint;
  every other attribute is read from a read-only copy of the application.

Requests are signed with an HMAC under a key derived from the deployment's key (every
process of one deployment has it; nothing else does) and carry the time, so a captured
request cannot be replayed later. Arguments travel as typed JSON (`encode`/`decode`): only
pydantic models and dataclasses of this project's own packages are rebuilt.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import http.client
import importlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from services.common.errors import BadInput, Refused, ServiceUnavailable

log = logging.getLogger("cases.commands")

#: How long a caller waits for the worker's loop to start its command.
COMMAND_TIMEOUT = float(os.environ.get("CASES_COMMAND_TIMEOUT", "30"))
#: Commands that may run for long once started (a rebuild reads every topic from offset 0).
LONG_COMMANDS = frozenset({"rebuild_views_from_topics"})
#: A signed request older than this is refused (clock skew on one machine is nil).
MAX_AGE_SECONDS = 120
TRUSTED_PACKAGES = ("services.", "events.")
MAX_BODY = 2 * 1024 * 1024


# -- typed JSON -------------------------------------------------------------------------------


def encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, UUID):
        return {"$uuid": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, BaseModel):
        return {"$model": _name_of(type(value)), "data": value.model_dump(mode="json")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return {"$dataclass": _name_of(type(value)), "fields": fields}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, (list, set, frozenset)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"$dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray)):
        return [encode(v) for v in value]  # a generator of reviewers, say: sent as a list
    raise TypeError(f"a command argument of type {type(value).__name__} cannot travel")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$bytes" in value:
        return base64.b64decode(value["$bytes"])
    if "$uuid" in value:
        return UUID(value["$uuid"])
    if "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    if "$date" in value:
        return date.fromisoformat(value["$date"])
    if "$tuple" in value:
        return tuple(decode(v) for v in value["$tuple"])
    if "$dict" in value:
        return {decode(k): decode(v) for k, v in value["$dict"]}
    if "$model" in value:
        return _trusted_class(value["$model"]).model_validate(value["data"])
    if "$dataclass" in value:
        return _trusted_class(value["$dataclass"])(**{k: decode(v) for k, v in value["fields"].items()})
    raise ValueError("an unknown value in a command")


def _name_of(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _trusted_class(name: str) -> Any:
    module, _, qualname = name.partition(":")
    if not module.startswith(TRUSTED_PACKAGES):
        raise ValueError(f"a command may not build {module}")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


# -- signing ----------------------------------------------------------------------------------


def sign(key: bytes, body: bytes, at: str) -> str:
    return hmac.new(key, at.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def signature_ok(key: bytes, body: bytes, at: str, signature: str) -> bool:
    try:
        age = abs(time.time() - float(at))
    except ValueError:
        return False
    return age <= MAX_AGE_SECONDS and hmac.compare_digest(sign(key, body, at), signature)


# -- the outcome of a command, as it travels back ---------------------------------------------


def failure_of(error: BaseException) -> dict[str, Any]:
    """What a caller may learn of a failed command: the business reason or the field, never
    a value or a traceback (those stay in the worker's log, without data)."""
    if isinstance(error, Refused):
        return {"refused": {"code": error.code, "message": str(error.message)}}
    if isinstance(error, BadInput):
        return {"bad_input": {"field": error.field, "problem": error.problem}}
    if isinstance(error, ServiceUnavailable):
        return {"unavailable": str(error)}
    return {"unavailable": f"the service could not record the command ({type(error).__name__})"}


def raise_failure(service: str, failure: dict[str, Any]) -> None:
    if "refused" in failure:
        raise Refused(failure["refused"]["code"], failure["refused"]["message"])
    if "bad_input" in failure:
        raise BadInput(failure["bad_input"]["field"], failure["bad_input"]["problem"])
    raise ServiceUnavailable(f"{service}: {failure.get('unavailable', 'the command failed')}")


# -- the worker's side ------------------------------------------------------------------------


@dataclasses.dataclass
class _Pending:
    method: str
    args: list[Any]
    kwargs: dict[str, Any]
    done: Future[Any]


class CommandEndpoint:
    """Serves one service's commands from inside its worker (a worker `Companion`)."""

    def __init__(self, app: Any, service: str, commands: Iterable[str], key: bytes, home: Path,
                 port: int = 0, run: Callable[[Callable[[], Any]], Any] | None = None,
                 extras: dict[str, Callable[..., Any]] | None = None):
        self.app, self.service, self.key = app, service, key
        #: Commands that are not the application's own methods (a dead letter handed again).
        self.extras = dict(extras or {})
        self.commands = frozenset(commands) | frozenset(self.extras)
        self.run = run or (lambda call: call())
        self.waiting: queue.Queue[_Pending] = queue.Queue()
        self.arrived = threading.Event()  # wakes the idle worker (worker.Companion)
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"{service}-commands",
                                       daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.announcement = announcements(home) / f"{service}-{os.getpid()}.json"
        self.announcement.parent.mkdir(parents=True, exist_ok=True)
        self.announcement.write_text(json.dumps({"service": service, "url": self.url, "pid": os.getpid()}))
        log.info("%s commands served at %s", service, self.url)

    def poll_once(self) -> int:
        """Run the commands that arrived, in the worker's own thread."""
        ran = 0
        while True:
            try:
                pending = self.waiting.get_nowait()
            except queue.Empty:
                return ran
            ran += 1
            if not pending.done.set_running_or_notify_cancel():
                continue  # the caller gave up waiting: it was told nothing was recorded
            try:
                method = self.extras.get(pending.method) or getattr(self.app, pending.method)
                result = self.run(_bound(method, pending.args, pending.kwargs))
                pending.done.set_result(encode(result))
            except BaseException as error:  # noqa: BLE001 - every failure travels back as an outcome
                if not isinstance(error, (Refused, BadInput)):
                    log.warning("%s command %s failed: %s", self.service, pending.method,
                                type(error).__name__)
                pending.done.set_exception(error)

    def close(self) -> None:
        self.announcement.unlink(missing_ok=True)
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # no request line (with its path) in logs
                return

            def do_POST(self) -> None:  # http.server names it
                length = int(self.headers.get("Content-Length") or 0)
                if self.path != "/command" or not 0 < length <= MAX_BODY:
                    return self.answer(400, {"unavailable": "not a command"})
                body = self.rfile.read(length)
                if not signature_ok(endpoint.key, body, self.headers.get("X-Cases-At", ""),
                                    self.headers.get("X-Cases-Signature", "")):
                    return self.answer(401, {"unavailable": "the command is not signed by this deployment"})
                try:
                    request = json.loads(body)
                    method = request["method"]
                    if method not in endpoint.commands:
                        return self.answer(404, {"unavailable": f"{endpoint.service} has no command {method!r}"})
                    kwargs = {str(k): decode(v) for k, v in request["kwargs"].items()}
                    pending = _Pending(method, decode(request["args"]), kwargs, Future())
                except (ValueError, KeyError, TypeError, AttributeError, ImportError):
                    return self.answer(400, {"unavailable": "the command could not be read"})
                endpoint.waiting.put(pending)
                endpoint.arrived.set()
                try:
                    result = pending.done.result(timeout=COMMAND_TIMEOUT)
                except TimeoutError:
                    if pending.done.cancel():  # not started: it will never run
                        return self.answer(503, {"unavailable": f"the {endpoint.service} worker is busy; nothing was recorded"})
                    result = pending.done.result()  # started: wait for its outcome, whatever it is
                except BaseException as error:  # noqa: BLE001 - the outcome of the command
                    return self.answer(200, {"failure": failure_of(error)})
                return self.answer(200, {"result": result})

            def answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _bound(method: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Callable[[], Any]:
    return lambda: method(*args, **kwargs)


def announcements(home: Path) -> Path:
    return home / "run" / "commands"


# -- the caller's side ------------------------------------------------------------------------


def live_endpoints(home: Path, service: str) -> list[str]:
    """The URLs of the service's running workers, newest first; announcements of processes
    that are gone are skipped (a SIGKILLed worker cannot remove its own)."""
    found = []
    for path in sorted(announcements(home).glob(f"{service}-*.json"), key=_mtime, reverse=True):
        try:
            data = json.loads(path.read_text())
            os.kill(int(data["pid"]), 0)
        except (OSError, ValueError, KeyError):
            continue
        found.append(str(data["url"]))
    return found


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class RemoteCommands:
    """Stands in for a service's application: its commands go to the service's worker,
    everything else is read from `reader` (a read-only application on the same store)."""

    def __init__(self, service: str, commands: Iterable[str], key: bytes, home: Path, reader: Any):
        self._service, self._key, self._home = service, key, home
        self._commands = frozenset(commands)
        self._reader = reader

    def __getattr__(self, name: str) -> Any:
        if name in self._commands:
            return lambda *args, **kwargs: self._send(name, args, kwargs)
        return getattr(self._reader, name)

    def _send(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        body = json.dumps({"method": method, "args": encode(list(args)), "kwargs": {
            k: encode(v) for k, v in kwargs.items()}}).encode()
        urls = live_endpoints(self._home, self._service)
        if not urls:
            raise ServiceUnavailable(f"the {self._service} worker is not running "
                                     f"(start it: cases worker {self._service}); nothing was recorded")
        for url in urls:
            at = repr(time.time())
            timeout = None if method in LONG_COMMANDS else COMMAND_TIMEOUT + 10
            # The standard library's client: loopback HTTP needs no TLS context, and a command
            # line starts faster without one (bench B1, B8).
            host, _, port = url.removeprefix("http://").partition(":")
            connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
            try:
                connection.request("POST", "/command", body=body, headers={
                    "Content-Type": "application/json", "X-Cases-At": at,
                    "X-Cases-Signature": sign(self._key, body, at)})
                response = connection.getresponse()
                status, payload = response.status, json.loads(response.read())
            except ConnectionRefusedError:
                continue  # that instance is gone: nothing reached it, try the next
            except (OSError, http.client.HTTPException, ValueError):
                raise ServiceUnavailable(f"the {self._service} worker did not answer in time; "
                                         "the command may or may not have been recorded") from None
            finally:
                connection.close()
            if "failure" in payload:
                raise_failure(self._service, payload["failure"])
            if status != 200:
                raise ServiceUnavailable(f"{self._service}: {payload.get('unavailable', 'refused the command')}")
            return decode(payload["result"])
        raise ServiceUnavailable(f"no {self._service} worker answers; nothing was recorded")
