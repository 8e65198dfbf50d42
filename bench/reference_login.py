#!/usr/bin/python3
"""The reference for "time to connected": the IBKR OAuth 2.0 login as users script it today.

Token (RS256 client assertion) -> SSO session (signed JWT body, application/jwt) -> validate ->
brokerage init -> accounts -> tickle, with Debian's python3-jwt and the standard library only, over
one keep-alive HTTPS connection (http.client), which is the fastest way the standard library offers:
urllib.request would open a new TLS connection per call. Prints one line when the tickle reports an
authenticated brokerage session, and exits 0; anything else exits 1 with the reason.

Reads the daemon's variables from the environment: IBKR_CLIENT_ID, IBKR_CLIENT_KEY_ID,
IBKR_PRIVATE_KEY_FILE, IBKR_CREDENTIAL, IBKR_ACCOUNT_ID, IBKR_ALLOWED_IP, IBKR_BASE_URL,
IBKR_CA_FILE, IBKR_SCOPE (optional). No settle time between init and accounts (IBKR_INIT_SETTLE=0).
"""

import http.client
import json
import os
import ssl
import sys
import time
import urllib.parse

import jwt  # python3-jwt (PyJWT), with python3-cryptography for RS256


def main() -> int:
    env = os.environ
    client_id = env["IBKR_CLIENT_ID"]
    kid = env["IBKR_CLIENT_KEY_ID"]
    with open(env["IBKR_PRIVATE_KEY_FILE"], "rb") as f:
        key = f.read()
    base = urllib.parse.urlsplit(env["IBKR_BASE_URL"])
    tls = ssl.create_default_context(cafile=env["IBKR_CA_FILE"])
    conn = http.client.HTTPSConnection(base.hostname, base.port or 443, context=tls, timeout=10)

    def call(method, path, body=None, headers=None):
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        data = res.read()
        if res.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {res.status}: {data[:200]!r}")
        return json.loads(data)

    def signed(claims):
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})

    now = int(time.time())
    assertion = signed({"iss": client_id, "sub": client_id, "aud": "/token", "iat": now - 10, "exp": now + 20})
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "scope": env.get("IBKR_SCOPE", "sso-sessions.write"),
    })
    token = call("POST", "/oauth2/api/v1/token", form,
                 {"Content-Type": "application/x-www-form-urlencoded"})["access_token"]

    now = int(time.time())
    sso_jwt = signed({"ip": env["IBKR_ALLOWED_IP"], "credential": env["IBKR_CREDENTIAL"], "iss": client_id,
                      "iat": now, "exp": now + 86400})
    sso = call("POST", "/gw/api/v1/sso-sessions", sso_jwt,
               {"Authorization": f"Bearer {token}", "Content-Type": "application/jwt"})
    bearer = {"Authorization": f"Bearer {sso['access_token']}"}

    if not call("GET", "/v1/api/sso/validate", headers=bearer).get("RESULT"):
        raise RuntimeError("validate: RESULT is not true")
    call("POST", "/v1/api/iserver/auth/ssodh/init", json.dumps({"publish": True, "compete": True}),
         {**bearer, "Content-Type": "application/json"})
    accounts = call("GET", "/v1/api/iserver/accounts", headers=bearer)
    if env["IBKR_ACCOUNT_ID"] not in accounts.get("accounts", []):
        raise RuntimeError("accounts: the account is not listed")
    tickle = call("POST", "/v1/api/tickle", headers=bearer)
    if not tickle.get("iserver", {}).get("authStatus", {}).get("authenticated"):
        raise RuntimeError("tickle: not authenticated")
    print("authenticated tickle", flush=True)
    # For the gateway figure: nginx, the reference proxy, sends this bearer to a simulator of its own
    # (the simulator's tokens protect nothing; never do this against IBKR).
    if os.environ.get("REFERENCE_PRINT_BEARER") == "1":
        print(sso["access_token"], flush=True)
    conn.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # a benchmark helper: one line, no traceback
        print(f"reference_login: {e}", file=sys.stderr)
        sys.exit(1)
