"""Request guards for the review UI: the access token, CSRF on every state change, and headers
(CSP without inline script, no framing, no sniffing). Pure ASGI middleware: it also wraps the
streamed audio responses."""
from __future__ import annotations

import hmac
import ipaddress
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

TOKEN_COOKIE = "ap_token"
CSRF_COOKIE = "ap_csrf"
CSRF_FIELD = "csrf"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


def _cookies(scope) -> dict[str, str]:
    jar = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is treated as no cookies
                pass
    return {k: m.value for k, m in jar.items()}


def _header(scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return value.decode("latin-1")
    return None


class Guard:
    """Token (when configured) on every request; a per-browser CSRF secret in a cookie that every
    POST must echo in its form (checked by the endpoints, see `check_csrf`); security headers."""

    def __init__(self, app, token: str | None, connect: tuple[str, ...] = ()) -> None:
        self.app, self.token = app, token
        # the live page's WebSocket to the live server is the one connection to another origin
        self.csp = CSP + "; connect-src 'self'" + "".join(f" {origin(u)}" for u in connect)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        if self.token and not self._authorised(scope, cookies):
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            if scope["method"] == "GET" and same(query.get("token"), self.token):
                # a login link: remember the token in a cookie and drop it from the address bar
                rest = urlencode({k: v for k, v in query.items() if k != "token"})
                # Lax: a login link opened from another site (mail, chat) must still carry it after the redirect
                await _plain(send, 303, b"", [(b"location", (scope["path"] + ("?" + rest if rest else "")).encode()),
                                             _set_cookie(TOKEN_COOKIE, self.token, "Lax")])
                return
            await _plain(send, 401, b"a valid token is required (open the link with ?token=... once)\n", [])
            return
        csrf = cookies.get(CSRF_COOKIE)
        new_csrf = None if csrf else secrets.token_urlsafe(24)
        scope.setdefault("state", {})["csrf"] = csrf or new_csrf

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", self.csp.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"),
                            (b"cache-control", b"no-store")]
                if new_csrf:
                    headers.append(_set_cookie(CSRF_COOKIE, new_csrf))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _authorised(self, scope, cookies: dict[str, str]) -> bool:
        auth = _header(scope, b"authorization") or ""
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        return same(bearer, self.token) or same(cookies.get(TOKEN_COOKIE), self.token)


def origin(url: str) -> str:
    """scheme://host[:port] of a URL (a CSP source)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _set_cookie(name: str, value: str, same_site: str = "Strict") -> tuple[bytes, bytes]:
    return b"set-cookie", f"{name}={value}; Path=/; HttpOnly; SameSite={same_site}".encode()


async def _plain(send, status: int, body: bytes, headers: list) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            (b"content-security-policy", CSP.encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def check_csrf(request, form) -> bool:
    """The form's secret equals this browser's cookie, and a browser-sent Origin is this server."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if origin.split("://", 1)[-1] != host:
            return False
    return same(form.get(CSRF_FIELD), request.cookies.get(CSRF_COOKIE))
