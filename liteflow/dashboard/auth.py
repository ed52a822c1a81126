"""Who may look and who may act.

* With a token (``create_app(host, token=...)`` or ``LITEFLOW_DASHBOARD_TOKEN``), every request but the
  login page and the static files needs ``Authorization: Bearer <token>`` or the cookie the login form
  sets (HttpOnly, SameSite=Strict).
* Without a token the dashboard is read-only, unless actions were allowed explicitly.
* A POST that a browser sends from another site is refused: its ``Origin`` (or ``Referer``) must name
  this server. Together with the SameSite cookie that keeps actions safe from cross-site requests.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

COOKIE = "liteflow_dashboard"


class Access:
    def __init__(self, token: str | None, allow_actions: bool) -> None:
        self.token = token or None
        self.allow_actions = allow_actions or self.token is not None

    def _matches(self, offered: str | None) -> bool:
        return offered is not None and self.token is not None and hmac.compare_digest(offered, self.token)

    def authenticated(self, request: Request) -> bool:
        if self.token is None:
            return True
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer ") and self._matches(header[7:].strip()):
            return True
        return self._matches(request.cookies.get(COOKIE))

    def same_origin(self, request: Request) -> bool:
        """A browser's POST names the page it came from; it must be this server (scripts send neither)."""
        source = request.headers.get("origin") or request.headers.get("referer")
        if not source or source == "null":
            return source is None
        return urlsplit(source).netloc == request.headers.get("host", "")

    def token_ok(self, offered: str) -> bool:
        return self._matches(offered)
