#!/usr/bin/env python3
"""Mints the benchmark's HS256 JWT: mint-jwt.py [secret] [sub] [ttl_seconds] [scope].

Like ../shared/bench/peers/mint-jwt.py, plus the `iss` and `aud` Gatehouse's `[[jwt.issuers]]`
requires (the peers ignore them), so every side checks the very same token."""
import base64, hashlib, hmac, json, sys, time

secret = (sys.argv[1] if len(sys.argv) > 1 else "bench-secret-bench-secret-bench-secret").encode()
sub = sys.argv[2] if len(sys.argv) > 2 else "user-42"
ttl = int(sys.argv[3]) if len(sys.argv) > 3 else 30 * 86400
scope = sys.argv[4] if len(sys.argv) > 4 else None

def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

now = int(time.time())
claims = {"sub": sub, "iat": now, "exp": now + ttl, "iss": "https://bench.example/", "aud": "bench"}
if scope:
    claims["scope"] = scope
header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
payload = b64(json.dumps(claims, separators=(",", ":")).encode())
signature = b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
print(f"{header}.{payload}.{signature}")
