"""A loopback HTTP proxy in front of a moto server that injects AWS faults.

Point an AWS client's ``endpoint_url`` at :attr:`FaultProxy.url` instead of the moto server's URL.
Every request is forwarded unchanged (apart from ``Host``) unless a :class:`FaultRule` matches it,
in which case the proxy answers the way AWS would for that service's protocol, so botocore parses
the intended error code and applies its normal retry logic:

- ``access_denied``: 403 ``AccessDenied`` (query protocols: iam, sts, rds ...; and s3, s3control),
  403 ``AccessDeniedException`` (JSON protocols: logs, kms, cloudtrail ...; and the CBOR one of
  cloudwatch, whose errors are CBOR-encoded);
- ``throttle``: 400 ``Throttling`` (query), 400 ``ThrottlingException`` (JSON), 503 ``SlowDown`` (s3);
- ``server_error``: 500 ``InternalError`` (query, s3), 503 ``ServiceUnavailable`` (JSON).

EC2 uses its own envelope (``<Response><Errors>...``) with ``UnauthorizedOperation`` (403),
``RequestLimitExceeded`` (503) and ``InternalError`` (500). ``latency`` delays the request by
``rule.latency`` seconds and then forwards it; ``timeout`` holds the connection for ``timeout_hold``
seconds (set it longer than the client's read timeout) and then closes it without an answer.

The service comes from the SigV4 credential scope (``Credential=AKID/DATE/REGION/SERVICE/aws4_request``,
in the ``Authorization`` header or a presigned URL's ``X-Amz-Credential``); s3control signs as ``s3``
and is told apart by its ``/v20180820/`` path. The operation comes from ``X-Amz-Target`` (JSON
protocols), ``Action=`` in the query string or form body (query protocols) or, for S3, from the method,
path and sub-resource query keys (path-style addressing only, which is what botocore uses against an
IP address). An S3 request the proxy cannot name has operation ``None``: only rules without an
operation match it.

The server is a thread-per-connection HTTP/1.1 server with keep-alive on both sides: each client
connection gets its own upstream connection, so concurrent aiobotocore clients are served in parallel.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import socketserver
import sys
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, get_args
from urllib.parse import parse_qs, unquote_plus, urlsplit
from xml.sax.saxutils import escape

Fault = Literal["access_denied", "throttle", "server_error", "latency", "timeout"]
FAULTS: frozenset[str] = frozenset(get_args(Fault))

Protocol = Literal["s3", "ec2", "query", "json", "cbor"]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers that describe one hop and are never forwarded (RFC 9110, section 7.6.1)."""

# Signing names that differ from the client name used in rules.
SIGNING_NAME_ALIASES = {"monitoring": "cloudwatch", "email": "ses", "states": "stepfunctions"}

S3CONTROL_PREFIX = "/v20180820/"

# S3 sub-resource query key -> (operation stem for a bucket, stem for an object or None).
_S3_SUBRESOURCES: dict[str, tuple[str, str | None]] = {
    "encryption": ("BucketEncryption", None),
    "policy": ("BucketPolicy", None),
    "policyStatus": ("BucketPolicyStatus", None),
    "publicAccessBlock": ("PublicAccessBlock", None),
    "acl": ("BucketAcl", "ObjectAcl"),
    "logging": ("BucketLogging", None),
    "versioning": ("BucketVersioning", None),
    "tagging": ("BucketTagging", "ObjectTagging"),
    "location": ("BucketLocation", None),
    "replication": ("BucketReplication", None),
    "lifecycle": ("BucketLifecycleConfiguration", None),
    "ownershipControls": ("BucketOwnershipControls", None),
    "cors": ("BucketCors", None),
    "website": ("BucketWebsite", None),
    "notification": ("BucketNotificationConfiguration", None),
    "object-lock": ("ObjectLockConfiguration", None),
    "intelligent-tiering": ("BucketIntelligentTieringConfiguration", None),
    "accelerate": ("BucketAccelerateConfiguration", None),
    "requestPayment": ("BucketRequestPayment", None),
}
# Query keys of the bucket listings (ListObjects, ListObjectsV2, ListObjectVersions, ListMultipartUploads).
_S3_LIST_PARAMETERS = frozenset(
    {
        "prefix",
        "delimiter",
        "marker",
        "max-keys",
        "list-type",
        "continuation-token",
        "start-after",
        "encoding-type",
        "fetch-owner",
        "versions",
        "key-marker",
        "version-id-marker",
        "uploads",
        "upload-id-marker",
        "max-uploads",
    }
)
_METHOD_VERBS = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}
# Sub-resources whose DELETE operation is not simply "Delete" + stem.
_S3_DELETE_NAMES = {"lifecycle": "DeleteBucketLifecycle", "notification": None, "acl": None, "location": None}


@dataclass(frozen=True)
class FaultRule:
    """Inject ``fault`` into calls to ``service`` (an operation, or all of them when ``None``).

    ``probability`` is drawn from the proxy's seeded generator; ``times`` caps how often the rule
    fires (``None``: without limit). ``latency`` is the delay of a ``latency`` fault, and a delay
    before the error answer for the other faults. ``contains`` narrows the rule to requests whose
    decoded query string or form body contains that text (an STS AssumeRole of one role ARN, say).
    """

    service: str
    operation: str | None = None
    fault: Fault = "access_denied"
    probability: float = 1.0
    latency: float = 0.0
    times: int | None = None
    contains: str | None = None

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; expected one of {', '.join(sorted(FAULTS))}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be within [0, 1], got {self.probability}")
        if self.latency < 0:
            raise ValueError(f"latency must not be negative, got {self.latency}")
        if self.times is not None and self.times < 0:
            raise ValueError(f"times must not be negative, got {self.times}")

    def matches(self, service: str | None, operation: str | None, text: str = "") -> bool:
        if service != self.service:
            return False
        if self.contains is not None and self.contains not in text:
            return False
        return self.operation is None or self.operation == operation


@dataclass(frozen=True)
class RequestInfo:
    """What the proxy understood of one request."""

    service: str | None
    operation: str | None
    protocol: Protocol
    # The decoded query string and form body, for rules that match on a parameter's value (not part of
    # what identifies the request).
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class _Decision:
    delay: float
    fault: Fault | None


class _ActiveRule:
    def __init__(self, rule: FaultRule) -> None:
        self.rule = rule
        self.fired = 0

    @property
    def exhausted(self) -> bool:
        return self.rule.times is not None and self.fired >= self.rule.times


# --- request identification -------------------------------------------------------------------


def credential_scope_service(authorization: str | None, query: dict[str, list[str]]) -> str | None:
    """The SERVICE part of a SigV4 credential scope, from the header or a presigned query."""
    credential: str | None = None
    if authorization:
        for part in authorization.replace(",", " ").split():
            if part.startswith("Credential="):
                credential = part[len("Credential=") :]
                break
    if credential is None and query.get("X-Amz-Credential"):
        credential = query["X-Amz-Credential"][0]
    if not credential:
        return None
    scope = credential.split("/")
    # AKID/DATE/REGION/SERVICE/aws4_request
    if len(scope) < 5 or scope[-1] != "aws4_request":
        return None
    name = scope[-2]
    return SIGNING_NAME_ALIASES.get(name, name)


def s3_operation(method: str, path: str, query_keys: set[str], headers: dict[str, str]) -> str | None:
    """Name the S3 operation of a path-style request, or ``None`` when it is not one we know."""
    segments = path.lstrip("/").split("/", 1)
    bucket = segments[0]
    key = segments[1] if len(segments) > 1 else ""
    if not bucket:
        return "ListBuckets" if method == "GET" else None
    for sub, (bucket_stem, object_stem) in _S3_SUBRESOURCES.items():
        if sub not in query_keys:
            continue
        stem = object_stem if key else bucket_stem
        if stem is None:
            return None
        if method == "DELETE" and not key and sub in _S3_DELETE_NAMES:
            return _S3_DELETE_NAMES[sub]
        if sub in ("policyStatus", "location") and method != "GET":
            return None
        verb = _METHOD_VERBS.get(method)
        return f"{verb}{stem}" if verb else None
    if method == "POST" and "delete" in query_keys and not key:
        return "DeleteObjects"
    if key:
        if "uploads" in query_keys:
            return "CreateMultipartUpload" if method == "POST" else "ListMultipartUploads"
        if "uploadId" in query_keys:
            return {
                "PUT": "UploadPart",
                "POST": "CompleteMultipartUpload",
                "DELETE": "AbortMultipartUpload",
                "GET": "ListParts",
            }.get(method)
        if method == "PUT":
            return "CopyObject" if "x-amz-copy-source" in headers else "PutObject"
        return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method)
    if query_keys - _S3_LIST_PARAMETERS:
        return None  # a bucket sub-resource we do not name (analytics, metrics, inventory ...)
    if method == "GET":
        if "uploads" in query_keys:
            return "ListMultipartUploads"
        if "versions" in query_keys:
            return "ListObjectVersions"
        return "ListObjectsV2" if "list-type" in query_keys else "ListObjects"
    return {"HEAD": "HeadBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method)


def s3control_operation(method: str, path: str) -> str | None:
    rest = path[len(S3CONTROL_PREFIX) :].rstrip("/")
    if rest == "configuration/publicAccessBlock":
        verb = _METHOD_VERBS.get(method)
        return f"{verb}PublicAccessBlock" if verb else None
    return None


def identify(method: str, target: str, headers: dict[str, str], body: bytes) -> RequestInfo:
    """Service, operation and error protocol of one request (``headers`` keyed in lower case)."""
    parts = urlsplit(target)
    path = parts.path or "/"
    query = parse_qs(parts.query, keep_blank_values=True)
    service = credential_scope_service(headers.get("authorization"), query)
    if service == "s3" and path.startswith(S3CONTROL_PREFIX):
        return RequestInfo("s3control", s3control_operation(method, path), "s3")
    if service == "s3":
        if query.get("x-id"):  # newer SDKs name some S3 operations in the query string
            return RequestInfo("s3", query["x-id"][0], "s3")
        return RequestInfo("s3", s3_operation(method, path, set(query), headers), "s3")

    if headers.get("smithy-protocol") == "rpc-v2-cbor":
        # Smithy RPC v2 CBOR (cloudwatch): POST /service/{ServiceName}/operation/{Operation}
        _, _, operation = path.rpartition("/operation/")
        return RequestInfo(service, operation.strip("/") or None, "cbor")

    amz_target = headers.get("x-amz-target")
    if amz_target:
        return RequestInfo(service, amz_target.rsplit(".", 1)[-1] or None, "json")

    action = query.get("Action", [None])[0]
    if action is None and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        action = form.get("Action", [None])[0]
    if action is not None:
        text = unquote_plus(parts.query) + "&" + unquote_plus(body.decode("utf-8", errors="replace"))
        return RequestInfo(service, action, "ec2" if service == "ec2" else "query", text)
    # A REST-JSON service (lambda, eks ...): the operation is not derivable in general.
    return RequestInfo(service, None, "json")


# --- AWS-shaped error answers -----------------------------------------------------------------

# fault -> protocol -> (status, code)
_ERRORS: dict[str, dict[str, tuple[int, str]]] = {
    "access_denied": {
        "s3": (403, "AccessDenied"),
        "ec2": (403, "UnauthorizedOperation"),
        "query": (403, "AccessDenied"),
        "json": (403, "AccessDeniedException"),
        "cbor": (403, "AccessDeniedException"),
    },
    "throttle": {
        "s3": (503, "SlowDown"),
        "ec2": (503, "RequestLimitExceeded"),
        "query": (400, "Throttling"),
        "json": (400, "ThrottlingException"),
        "cbor": (400, "ThrottlingException"),
    },
    "server_error": {
        "s3": (500, "InternalError"),
        "ec2": (500, "InternalError"),
        "query": (500, "InternalError"),
        "json": (503, "ServiceUnavailable"),
        "cbor": (503, "ServiceUnavailable"),
    },
}
_MESSAGES = {
    "access_denied": "User: arn:aws:iam::123456789012:user/guardian is not authorized to perform {action}",
    "throttle": "Rate exceeded",
    "server_error": "We encountered an internal error. Please try again.",
}


def error_response(fault: str, info: RequestInfo) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the AWS error for ``fault`` in the request's protocol."""
    status, code = _ERRORS[fault][info.protocol]
    action = f"{info.service or 'aws'}:{info.operation or '*'}"
    message = _MESSAGES[fault].format(action=action) + " (injected by FaultProxy)"
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    text_message, text_code, text_id = escape(message), escape(code), escape(request_id)
    if info.protocol == "s3":
        headers = {"x-amz-request-id": request_id, "Content-Type": "application/xml"}
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{text_code}</Code><Message>{text_message}</Message>"
            f"<RequestId>{text_id}</RequestId></Error>"
        )
    elif info.protocol == "ec2":
        headers["Content-Type"] = "text/xml;charset=UTF-8"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{text_code}</Code><Message>{text_message}</Message></Error>"
            f"</Errors><RequestID>{text_id}</RequestID></Response>"
        )
    elif info.protocol == "query":
        headers["Content-Type"] = "text/xml"
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            f'<ErrorResponse xmlns="https://{info.service or "aws"}.amazonaws.com/doc/">'
            f"<Error><Type>{kind}</Type><Code>{text_code}</Code><Message>{text_message}</Message></Error>"
            f"<RequestId>{text_id}</RequestId></ErrorResponse>"
        )
    elif info.protocol == "cbor":
        headers["Content-Type"] = "application/cbor"
        headers["smithy-protocol"] = "rpc-v2-cbor"
        return status, headers, cbor_text_map({"__type": code, "message": message})
    else:
        headers["Content-Type"] = "application/x-amz-json-1.1"
        headers["x-amzn-ErrorType"] = code
        body = json.dumps({"__type": code, "message": message})
    return status, headers, body.encode("utf-8")


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([major << 5 | extra]) + length.to_bytes(size, "big")
    raise ValueError("too long for CBOR")


def cbor_text_map(values: dict[str, str]) -> bytes:
    """Encode a map of text strings in CBOR (RFC 8949), all an rpc-v2-cbor error body needs."""
    out = bytearray(_cbor_head(5, len(values)))
    for key, value in values.items():
        for text in (key, value):
            raw = text.encode("utf-8")
            out += _cbor_head(3, len(raw)) + raw
    return bytes(out)


# --- the proxy --------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    proxy: FaultProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (a read timeout, a closed pool) is normal in fault tests.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on a machine without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    _upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests read the counters instead

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.proxy._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._upstream is not None:
                self._upstream.close()
                self._upstream = None
            self.server.proxy._track(self.connection, add=False)

    def do_GET(self) -> None:
        self._proxy()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, up to the empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _proxy(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        lowered = {k.lower(): v for k, v in self.headers.items()}
        info = identify(self.command, self.path, lowered, body)
        decision = proxy._decide(info)
        if decision.delay and proxy._stopping.wait(decision.delay):
            self.close_connection = True
            return
        if decision.fault == "timeout":
            proxy._stopping.wait(proxy.timeout_hold)
            self.close_connection = True
            return
        if decision.fault is not None:
            status, headers, payload = error_response(decision.fault, info)
            self._answer(status, list(headers.items()), payload)
            return
        try:
            status, upstream_headers, payload = self._forward(body)
        except (OSError, http.client.HTTPException) as exc:
            message = f"FaultProxy could not reach {proxy.upstream_url}: {exc}".encode()
            self._answer(502, [("Content-Type", "text/plain")], payload=message)
            return
        self._answer(status, upstream_headers, payload)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() not in ("host", "content-length", "expect")
        }
        headers["Host"] = proxy._upstream_netloc
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        for attempt in range(2):
            reused = self._upstream is not None
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(
                    proxy._upstream_host, proxy._upstream_port, timeout=proxy.upstream_timeout
                )
            try:
                self._upstream.request(self.command, self.path, body=body, headers=headers)
                response = self._upstream.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._upstream.close()
                self._upstream = None
                if reused and attempt == 0:
                    continue  # a stale keep-alive connection: retry once on a fresh one
                raise
            except Exception:
                self._upstream.close()
                self._upstream = None
                raise
            out = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            if response.will_close:
                self._upstream.close()
                self._upstream = None
            return response.status, out, payload
        raise AssertionError("unreachable")

    def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [f"{self.protocol_version} {status} {reason}"]
        names = {k.lower() for k, _ in headers}
        if "date" not in names:
            lines.append(f"Date: {formatdate(usegmt=True)}")
        for name, value in headers:
            # A HEAD answer keeps the upstream length of the body it would have had.
            if name.lower() == "content-length" and self.command != "HEAD":
                continue
            lines.append(f"{name}: {value}")
        if not (self.command == "HEAD" and "content-length" in names) and status not in (204, 304):
            lines.append(f"Content-Length: {0 if no_body else len(payload)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")
        # One write for headers and body: two small writes would meet Nagle and delayed ACKs.
        self.wfile.write(head if no_body else head + payload)
        self.wfile.flush()


class FaultProxy:
    """A loopback proxy to ``upstream_url`` that injects AWS faults according to its rules.

    ``calls`` counts every request by (service, operation); ``injected`` counts every rule that
    fired by (service, operation, fault). ``clear()`` removes the rules and the global delay;
    ``reset_counters()`` empties the counters.
    """

    def __init__(
        self,
        upstream_url: str,
        *,
        seed: int = 0,
        timeout_hold: float = 5.0,
        upstream_timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, got {upstream_url!r}")
        self.upstream_url = upstream_url.rstrip("/")
        self._upstream_host: str = parts.hostname
        self._upstream_port: int = parts.port or 80
        self._upstream_netloc = parts.netloc
        self.timeout_hold = timeout_hold
        self.upstream_timeout = upstream_timeout
        self.calls: Counter[tuple[str | None, str | None]] = Counter()
        self.injected: Counter[tuple[str | None, str | None, str]] = Counter()
        self._rules: list[_ActiveRule] = []
        self._delay = 0.0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FaultProxy is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- rules --

    def add_rule(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(_ActiveRule(rule))
        return rule

    def clear(self) -> None:
        """Remove every rule and the global delay (the counters are kept)."""
        with self._lock:
            self._rules.clear()
            self._delay = 0.0

    def delay_all(self, seconds: float) -> None:
        """Delay every request by ``seconds`` (0 turns it off)."""
        if seconds < 0:
            raise ValueError("the delay must not be negative")
        with self._lock:
            self._delay = seconds

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._random = random.Random(seed)

    def reset_counters(self) -> None:
        with self._lock:
            self.calls.clear()
            self.injected.clear()

    def fired(self, rule: FaultRule) -> int:
        """How many times ``rule`` (the very object passed to ``add_rule``) has fired."""
        with self._lock:
            return sum(active.fired for active in self._rules if active.rule is rule)

    # -- internals used by the handler --

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _decide(self, info: RequestInfo) -> _Decision:
        """Which rules fire for this request: the latency they add and the first fault, if any."""
        with self._lock:
            self.calls[(info.service, info.operation)] += 1
            delay = self._delay
            fault: Fault | None = None
            for active in self._rules:
                rule = active.rule
                if active.exhausted or not rule.matches(info.service, info.operation, info.text):
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                active.fired += 1
                self.injected[(info.service, info.operation, rule.fault)] += 1
                delay += rule.latency
                if rule.fault != "latency":
                    fault = rule.fault
                    break
            return _Decision(delay=delay, fault=fault)
