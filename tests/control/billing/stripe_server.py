"""A local server that speaks just enough of Stripe's API for the real ``stripe`` SDK.

``POST /v1/checkout/sessions`` (payment and subscription mode, form-encoded like Stripe,
with Stripe's idempotency: the same ``Idempotency-Key`` answers the first response, and
with other parameters a 400 ``idempotency_error``) and ``DELETE /v1/subscriptions/{id}``
(cancel; an unknown id is 404 ``resource_missing``). The API key is checked on every call.
Webhooks are signed with Stripe's scheme
(``t=<ts>,v1=<hex hmac_sha256(secret, "<ts>.<payload>")>``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from fastapi.testclient import TestClient

PLATFORM_KEY = "sk_test_platform_" + secrets.token_hex(8)
WEBHOOK_SECRET = "whsec_" + secrets.token_hex(16)


class FakeStripe:
    """Checkout Sessions and subscription cancellations, recorded for assertions."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.idempotent: dict[str, tuple[dict[str, str], int, dict[str, Any]]] = {}
        self.fail_next = False
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(6))
                self.end_headers()
                self.wfile.write(raw)

            def _read(self) -> dict[str, str] | None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "form": form,
                        "authorization": self.headers.get("Authorization"),
                        "idempotency_key": self.headers.get("Idempotency-Key"),
                    }
                )
                if self.headers.get("Authorization") != f"Bearer {PLATFORM_KEY}":
                    self._send(
                        401,
                        {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}},
                    )
                    return None
                return form

            def do_DELETE(self) -> None:
                if self._read() is None:
                    return
                prefix = "/v1/subscriptions/"
                sub_id = self.path[len(prefix) :] if self.path.startswith(prefix) else ""
                with fake.lock:
                    sub = fake.subscriptions.get(sub_id)
                    if sub is None or sub["status"] == "canceled":
                        self._send(404, _missing(sub_id))
                        return
                    sub["status"] = "canceled"
                self._send(200, sub)

            def do_POST(self) -> None:
                form = self._read()
                if form is None:
                    return
                if self.path != "/v1/checkout/sessions":
                    self._send(404, _missing(self.path))
                    return
                key = self.headers.get("Idempotency-Key")
                with fake.lock:
                    if key and key in fake.idempotent:
                        first_form, status, body = fake.idempotent[key]
                        if first_form != form:
                            self._send(400, {"error": {"type": "idempotency_error"}})
                        else:
                            self._send(status, body)
                        return
                    status, body = fake._create_session(form)
                    if key:
                        fake.idempotent[key] = (form, status, body)
                self._send(status, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _create_session(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.fail_next:
            self.fail_next = False
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "message": "Your account cannot currently make live charges.",
                }
            }
        if form.get("mode") == "subscription" and not form.get(
            "line_items[0][price_data][recurring][interval]"
        ):
            return 400, {"error": {"type": "invalid_request_error", "param": "line_items"}}
        session_id = "cs_test_" + secrets.token_hex(12)
        metadata = {
            k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")
        }
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form.get("mode"),
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": int(form["line_items[0][price_data][unit_amount]"]),
            "currency": form["line_items[0][price_data][currency]"],
            "client_reference_id": form.get("client_reference_id"),
            "customer_email": form.get("customer_email"),
            "customer": None,
            "subscription": None,
            "metadata": metadata,
            "payment_intent": None,
            "success_url": form.get("success_url"),
            "cancel_url": form.get("cancel_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "livemode": False,
            "created": int(time.time()),
            "expires_at": int(form.get("expires_at") or time.time() + 86400),
        }
        self.sessions[session_id] = session
        return 200, session

    def pay(self, session_id: str) -> dict[str, Any]:
        """The session as Stripe sends it once the buyer paid (a subscription for plans)."""
        session = self.sessions[session_id]
        paid = {**session, "status": "complete", "payment_status": "paid"}
        if session["mode"] == "subscription":
            sub_id = "sub_" + secrets.token_hex(8)
            with self.lock:
                self.subscriptions[sub_id] = {
                    "id": sub_id,
                    "object": "subscription",
                    "status": "active",
                    "metadata": session["metadata"],
                }
            paid |= {"subscription": sub_id, "customer": "cus_" + secrets.token_hex(6)}
        else:
            paid["payment_intent"] = "pi_" + secrets.token_hex(8)
        return paid

    def __enter__(self) -> FakeStripe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _missing(what: str) -> dict[str, Any]:
    return {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": f"No such resource: '{what}'",
        }
    }


def sign(payload: str, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(
    kind: str, obj: dict[str, Any], event_id: str | None = None, created: int | None = None
) -> str:
    return json.dumps(
        {
            "id": event_id or "evt_" + secrets.token_hex(12),
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()) if created is None else created,
            "livemode": False,
            "type": kind,
            "data": {"object": obj},
        }
    )


def post_webhook(client: TestClient, payload: str, signature: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    headers["Stripe-Signature"] = signature if signature is not None else sign(payload)
    return client.post("/api/billing/stripe/webhook", content=payload, headers=headers)
