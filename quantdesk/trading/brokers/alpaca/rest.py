"""Alpaca's trading REST API (``/v2/account``, ``/v2/positions``, ``/v2/orders``,
``/v2/account/activities/FILL``) and the latest-quote endpoint of its data API.

Authentication is the ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` header pair;
the key and secret come from the environment only. Errors become one line:
:class:`~quantdesk.errors.ConfigError` for refused credentials,
:class:`~quantdesk.errors.NotFoundError` for 404, :class:`AlpacaError` (with the
HTTP status and Alpaca's ``message``) for the rest.
"""

from __future__ import annotations

from typing import Any

import httpx

from quantdesk.errors import ConfigError, NotFoundError, TradingError

__all__ = ["AlpacaError", "AlpacaRest"]

_AUTH_REFUSED = frozenset({"forbidden", "unauthorized", "access denied", ""})


class AlpacaError(TradingError):
    """Alpaca answered an error; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"alpaca: HTTP {status}: {message}")


class AlpacaRest:
    """A thin synchronous client; every method is one request."""

    def __init__(
        self,
        key_id: str,
        secret: str,
        *,
        base_url: str,
        data_url: str,
        timeout: float = 10.0,
    ) -> None:
        if not key_id or not secret:
            raise ConfigError(
                "alpaca: set QUANTDESK_ALPACA_KEY_ID and QUANTDESK_ALPACA_SECRET_KEY"
                " (environment or .env)"
            )
        headers = {"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self._data = httpx.Client(base_url=data_url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()
        self._data.close()

    def _call(self, client: httpx.Client, method: str, path: str, **kw: Any) -> Any:
        try:
            r = client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise TradingError(f"alpaca: {method} {path} failed ({exc})") from None
        if r.status_code == 404:
            raise NotFoundError(f"alpaca: {path} not found")
        if r.status_code >= 400:
            try:
                message = str(r.json().get("message", r.text))
            except (ValueError, AttributeError):
                message = r.text[:200]
            # 403 is also Alpaca's answer to e.g. "insufficient buying power"
            if r.status_code == 401 or (
                r.status_code == 403 and message.lower().strip(". ") in _AUTH_REFUSED
            ):
                raise ConfigError(f"alpaca: the key or secret was refused (HTTP {r.status_code})")
            raise AlpacaError(r.status_code, message)
        if r.status_code == 204 or not r.content:
            return None
        return r.json()

    def account(self) -> dict[str, Any]:
        return dict(self._call(self._http, "GET", "/v2/account"))

    def positions(self) -> list[dict[str, Any]]:
        return list(self._call(self._http, "GET", "/v2/positions"))

    def orders(self, status: str = "all", after: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"status": status, "limit": 500, "direction": "asc"}
        if after:
            params["after"] = after
        return list(self._call(self._http, "GET", "/v2/orders", params=params))

    def order_by_client_id(self, client_order_id: str) -> dict[str, Any]:
        return dict(
            self._call(
                self._http,
                "GET",
                "/v2/orders:by_client_order_id",
                params={"client_order_id": client_order_id},
            )
        )

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call(self._http, "POST", "/v2/orders", json=body))

    def cancel(self, order_id: str) -> None:
        self._call(self._http, "DELETE", f"/v2/orders/{order_id}")

    def order(self, order_id: str) -> dict[str, Any]:
        return dict(self._call(self._http, "GET", f"/v2/orders/{order_id}"))

    def fills(self, after: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"direction": "asc", "page_size": 100}
        if after:
            params["after"] = after
        return list(self._call(self._http, "GET", "/v2/account/activities/FILL", params=params))

    def latest_quote(self, symbol: str) -> dict[str, Any]:
        return dict(self._call(self._data, "GET", f"/v2/stocks/{symbol}/quotes/latest"))
