"""A small blocking JMAP client (RFC 8620/8621) over http.client, one keep-alive connection each.

Only what the benchmarks need: session discovery, API calls, uploads. It knows nothing about
stalwart-tx or Cyrus: standard JMAP over HTTP with Basic auth. One ``Connection`` per thread.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
BLOB = "urn:ietf:params:jmap:blob"
USING = [CORE, MAIL]


class JMAPError(Exception):
    pass


class ServerLacks(JMAPError):
    """The server does not implement a method or capability the benchmark needs."""


@dataclass
class Target:
    """Where a server's JMAP session is and who to log in as."""

    name: str
    session_url: str
    user: str
    password: str

    @property
    def authorization(self) -> str:
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()

    @classmethod
    def parse(cls, spec: str) -> Target:
        """``NAME=URL,USER,PASSWORD``; URL a base (http://127.0.0.1:8080) or the session URL."""
        name, _, rest = spec.partition("=")
        url, user, password = rest.split(",", 2)
        if urlsplit(url).path in ("", "/"):
            url = url.rstrip("/") + "/.well-known/jmap"
        return cls(name, url, user, password)


class Connection:
    """One persistent HTTP/1.1 connection to one host, re-opened if the server closes it."""

    def __init__(self, url: str, authorization: str, timeout: float = 120) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.https = parts.scheme == "https"
        self.authorization = authorization
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._conn = cls(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, url: str, body: bytes | None = None,
                content_type: str | None = None) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"Authorization": self.authorization, "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()  # a keep-alive connection the server closed meanwhile
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.close()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        raise AssertionError("unreachable")


@dataclass
class Session:
    target: Target
    raw: dict[str, Any]
    session_url: str
    account_id: str = field(init=False)
    api_url: str = field(init=False)
    upload_url: str = field(init=False)

    def __post_init__(self) -> None:
        primary = self.raw.get("primaryAccounts", {})
        self.account_id = primary.get(MAIL) or next(iter(self.raw["accounts"]))
        # URLs in the session may be relative (Cyrus sends "/jmap/"): resolve against the session.
        self.api_url = urljoin(self.session_url, self.raw["apiUrl"])
        self.upload_url = urljoin(self.session_url, self.raw["uploadUrl"]).replace(
            "{accountId}", self.account_id)

    @property
    def core(self) -> dict[str, Any]:
        return dict(self.raw["capabilities"][CORE])

    def limit(self, name: str, default: int) -> int:
        value = self.core.get(name)
        return int(value) if isinstance(value, int) and value > 0 else default

    @property
    def has_blob_upload(self) -> bool:
        return BLOB in self.raw["capabilities"]

    def connect(self) -> Client:
        return Client(self)


def discover(target: Target, attempts: int = 1) -> Session:
    """GET the session resource, following redirects (/.well-known/jmap usually redirects)."""
    url = target.session_url
    conn = Connection(url, target.authorization)
    try:
        for _ in range(5):
            status, headers, body = conn.request("GET", url)
            if status in (301, 302, 303, 307, 308) and "location" in headers:
                new = urljoin(url, headers["location"])
                if urlsplit(new).netloc != urlsplit(url).netloc:
                    conn.close()
                    conn = Connection(new, target.authorization)
                url = new
                continue
            if status != 200:
                raise JMAPError(f"{target.name}: session {url} answered HTTP {status}: "
                                f"{body[:300]!r}")
            raw = json.loads(body)
            if MAIL not in raw.get("capabilities", {}):
                raise ServerLacks(f"{target.name}: session does not advertise {MAIL}")
            return Session(target, raw, url)
        raise JMAPError(f"{target.name}: too many redirects from {target.session_url}")
    finally:
        conn.close()


class Client:
    """API calls and uploads on one connection (not thread-safe: one Client per thread)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.conn = Connection(session.api_url, session.target.authorization)
        upload = urlsplit(session.upload_url)
        api = urlsplit(session.api_url)
        self.upload_conn = (self.conn if upload.netloc == api.netloc
                            else Connection(session.upload_url, session.target.authorization))
        self.last_headers: dict[str, str] = {}
        self.last_seconds = 0.0

    @property
    def account_id(self) -> str:
        return self.session.account_id

    def close(self) -> None:
        self.conn.close()
        self.upload_conn.close()

    def post_raw(self, body: bytes) -> tuple[int, bytes]:
        started = time.perf_counter()
        status, headers, data = self.conn.request("POST", self.session.api_url, body,
                                                  "application/json")
        self.last_seconds = time.perf_counter() - started
        self.last_headers = headers
        return status, data

    def call(self, method_calls: list[list[Any]], using: list[str] | None = None
             ) -> list[list[Any]]:
        """Send one request; return its methodResponses. HTTP or request-level errors raise."""
        body = json.dumps({"using": using or USING, "methodCalls": method_calls}).encode()
        status, data = self.post_raw(body)
        if status != 200:
            raise JMAPError(f"{self.session.target.name}: API answered HTTP {status}: "
                            f"{data[:500]!r}")
        responses: list[list[Any]] = json.loads(data)["methodResponses"]
        return responses

    def call_one(self, method: str, args: dict[str, Any], using: list[str] | None = None
                 ) -> dict[str, Any]:
        """One method call; its arguments, or ServerLacks / JMAPError for an error response."""
        args = {"accountId": self.account_id, **args}
        name, result, _ = self.call([[method, args, "0"]], using)[0]
        check(self.session.target.name, method, name, result)
        return dict(result)

    def upload(self, data: bytes, content_type: str = "message/rfc822") -> str:
        status, _, body = self.upload_conn.request("POST", self.session.upload_url, data,
                                                   content_type)
        if status not in (200, 201):
            raise JMAPError(f"{self.session.target.name}: upload answered HTTP {status}: "
                            f"{body[:300]!r}")
        return str(json.loads(body)["blobId"])


def check(server: str, method: str, name: str, result: dict[str, Any]) -> None:
    if name != "error":
        return
    if result.get("type") in ("unknownMethod", "unknownCapability"):
        raise ServerLacks(f"{server}: server lacks {method} ({result.get('type')})")
    raise JMAPError(f"{server}: {method} failed: {result}")


def inbox_and_mailboxes(client: Client) -> tuple[str, dict[str, dict[str, Any]]]:
    """The Inbox id (role inbox, else a mailbox named Inbox) and all mailboxes by id."""
    result = client.call_one("Mailbox/get", {"ids": None})
    mailboxes = {m["id"]: m for m in result["list"]}
    for m in mailboxes.values():
        if m.get("role") == "inbox":
            return m["id"], mailboxes
    for m in mailboxes.values():
        if str(m.get("name", "")).lower() == "inbox" and not m.get("parentId"):
            return m["id"], mailboxes
    raise JMAPError(f"{client.session.target.name}: no Inbox (no mailbox with role inbox)")
