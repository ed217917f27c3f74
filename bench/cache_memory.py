#!/usr/bin/env python3
"""Memory per cached identity (issue 14, part 3), driven by bench/cache_memory.sh.

  cache_memory.py --db DB --pid PID --port PORT --admin ADMIN [--tokens 100000]

Inserts N valid access tokens straight into the SQLite store (as Gatehouse mints and stores
them: `gth1_` + 256 random bits + a 96-bit HMAC-SHA256 tag under the configured
`tokens.checksum_key`; the store keeps the SHA-256 of the token, never the token), then sends one authenticated request per token through
the proxy so each identity enters the cache, and prints RSS at idle and after, the cache's
entry count from /metrics, and the bytes per identity.
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import os
import sqlite3
import sys
import threading
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def metric(port, name, label=""):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    total = 0.0
    for line in body.splitlines():
        if (line.startswith(name + " ") or line.startswith(name + "{")) and label in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def mint(key):
    token = "gth1_" + b64(os.urandom(32))
    return token + b64(hmac.new(key, token.encode(), hashlib.sha256).digest()[:12])


def insert_tokens(db, n, key):
    now = int(time.time())
    tokens = []
    rows = []
    for i in range(n):
        token = mint(key)
        tokens.append(token)
        rows.append((hashlib.sha256(token.encode()).digest(), str(100000 + i), f"user{i}",
                     "pitchtarget-ios", "read write", 0, now, now + 86400, ""))
    con = sqlite3.connect(db, timeout=30)
    con.executemany(
        "INSERT INTO access_tokens (token_hash, user_id, user_name, client_id, scopes, admin,"
        " created_at, expires_at, user_groups) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return tokens


def touch(port, tokens, workers=4):
    failures = []

    def run(part):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for t in part:
            c.request("GET", "/auth/x", headers={"Authorization": f"Bearer {t}"})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                failures.append(r.status)

    threads = [threading.Thread(target=run, args=(tokens[i::workers],)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        sys.exit(f"cache_memory: {len(failures)} requests failed, first status {failures[0]}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--admin", type=int, required=True)
    p.add_argument("--tokens", type=int, default=100000)
    p.add_argument("--checksum-key", required=True, help="tokens.checksum_key, 64 hex digits")
    a = p.parse_args()

    idle = rss_kib(a.pid)
    tokens = insert_tokens(a.db, a.tokens, bytes.fromhex(a.checksum_key))
    started = time.monotonic()
    touch(a.port, tokens)
    took = time.monotonic() - started
    time.sleep(2)  # let moka apply its pending inserts before the count
    after = rss_kib(a.pid)
    misses = metric(a.admin, "gatehouse_token_cache_total", 'result="miss"')
    # A second pass must be all hits: the cache kept every identity.
    hits_before = metric(a.admin, "gatehouse_token_cache_total", 'result="hit"')
    touch(a.port, tokens[: min(len(tokens), 20000)])
    hits = metric(a.admin, "gatehouse_token_cache_total", 'result="hit"') - hits_before
    print(f"idle_rss_kib {idle}")
    print(f"cached_rss_kib {after}")
    print(f"identities {a.tokens}")
    print(f"bytes_per_identity {(after - idle) * 1024 / a.tokens:.0f}")
    print(f"cache_misses {misses:.0f}")
    print(f"second_pass_hits {hits:.0f} of {min(len(tokens), 20000)}")
    print(f"first_pass_seconds {took:.1f}")


if __name__ == "__main__":
    main()
