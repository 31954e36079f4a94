"""Checks every request passes before any route sees it (a plain ASGI middleware).

* **Token** (always when bound beyond loopback): ``Authorization: Bearer TOKEN``, the
  ``X-Pixengine-Token`` header, the cookie the page gets, or ``?token=`` once: the address
  ``pixengine serve`` prints carries it, and the page is then redirected to a clean address
  with the token in an HttpOnly cookie (event streams and images carry cookies, not headers).
* **Host** (on loopback): only loopback names, so a web page cannot reach the studio by
  re-pointing its own domain at 127.0.0.1 (DNS rebinding).
* **Origin**: a request that changes something must come from the studio's own page, not from
  a form on another site (cross-site request forgery).
* **Size**: a request body must announce its length, at most the upload limit for uploads and
  the JSON limit elsewhere, before a byte of it is read.

Every answer also carries headers that keep the browser strict: no MIME sniffing, no framing,
and a content security policy that runs only the studio's own scripts (an SVG from a run
folder, viewed directly, runs nothing).
"""

from __future__ import annotations

import hmac
import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode, urlsplit

from .settings import StudioSettings, is_loopback

COOKIE = "pixengine_studio_token"
UPLOAD_PATHS = ("/api/uploads", "/api/recipes")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                                 b"script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                                 b"frame-ancestors 'none'; form-action 'self'"),
]


class Guard:
    def __init__(self, app, settings: StudioSettings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope.get("method", "GET")
        path = scope.get("path", "")

        refusal = self._refusal(scope, headers, method, path)
        if refusal is not None:
            return await _answer(send, *refusal)

        token_in_query = False
        if self.settings.token:
            supplied, token_in_query = _supplied_token(scope, headers)
            if supplied is None or not hmac.compare_digest(supplied.encode(), self.settings.token.encode()):
                return await _answer(send, 401, "this studio needs its token: open the address `pixengine serve` printed, "
                                                "or send 'Authorization: Bearer TOKEN'")
            if token_in_query and method == "GET" and path == "/":
                return await self._redirect_with_cookie(scope, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                extra = list(SECURITY_HEADERS)
                if token_in_query:
                    extra.append(self._cookie_header())
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope, headers: dict, method: str, path: str) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if self.settings.loopback:
            hostname = urlsplit(f"//{host}").hostname or ""
            if not is_loopback(hostname):
                return 403, f"this studio answers on loopback addresses only, not to Host '{host[:60]}'"
        origin = headers.get("origin")
        if method not in SAFE_METHODS and origin is not None and urlsplit(origin).netloc != host:
            return 403, f"cross-site request refused: it came from '{origin[:80]}', not from the studio's page"
        if method not in SAFE_METHODS:
            length = headers.get("content-length")
            limit = self.settings.max_upload_bytes if path.startswith(UPLOAD_PATHS) else self.settings.max_json_bytes
            if length is None:
                if headers.get("transfer-encoding"):
                    return 411, "send the request body with a Content-Length"
            elif not length.isdigit():
                return 400, "Content-Length is not a number"
            elif int(length) > limit:
                return 413, f"the request body is {int(length)} bytes, more than the {limit} allowed here"
        return None

    def _cookie_header(self) -> tuple[bytes, bytes]:
        cookie = SimpleCookie()
        cookie[COOKIE] = self.settings.token
        cookie[COOKIE]["httponly"] = True
        cookie[COOKIE]["samesite"] = "Strict"
        cookie[COOKIE]["path"] = "/"
        return b"set-cookie", cookie[COOKIE].OutputString().encode("latin-1")

    async def _redirect_with_cookie(self, scope, send) -> None:
        query = {k: v for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items() if k != "token"}
        location = "/" + (f"?{urlencode(query, doseq=True)}" if query else "")
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location.encode("latin-1")), self._cookie_header(), *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": b""})


def _supplied_token(scope, headers: dict) -> tuple[str | None, bool]:
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip(), False
    if "x-pixengine-token" in headers:
        return headers["x-pixengine-token"], False
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:  # a malformed cookie header is no token
        cookie = SimpleCookie()
    if COOKIE in cookie:
        return cookie[COOKIE].value, False
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if "token" in query:
        return query["token"][0], True
    return None, False


async def _answer(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail, "errors": []}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})
