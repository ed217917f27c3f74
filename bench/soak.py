#!/usr/bin/env python3
"""Soak driver for bench/soak.sh: mixed traffic against a running Gatehouse on loopback.

Every request belongs to a traffic class with the statuses it may get and why (EXPECTED).
Anything else, and every 5xx, is unexplained: listed in the report and the exit status is 1.
Clients are simulated with X-Forwarded-For (the soak config trusts 127.0.0.1), so the
per-address lockout and sign-up limits act per simulated client, as behind a load balancer.
Standard library only.
"""

import argparse
import collections
import http.client
import json
import random
import secrets
import string
import sys
import threading
import time

CLIENT_ID = "soak-app"
PASSWORD = "soak-password-123"

# class -> (statuses that are explained, the explanation)
EXPECTED = {
    "valid": ({200}, "live token, answered from the cache after its first use"),
    "revoked": ({401}, "revoked at set-up: invalid_token"),
    "invalid": ({400, 401}, "malformed token: 400 invalid_request; well-formed garbage: 401"),
    "random": ({401}, "random well-formed tokens, each new: 401 (negative cache)"),
    "login_ok": ({200}, "right password, one request at a time per account"),
    "login_bad": ({400}, "wrong password or unknown user: 400 invalid_grant; "
                         "past oauth.lockout limits the same with Retry-After (locked)"),
    "refresh": ({200}, "refresh-token rotation, one chain per worker"),
    "fresh_use": ({200}, "first use of a token just issued by a login or refresh"),
    "signup": ({201, 429}, "201 created; 429 past oauth.sign_up.max_per_address"),
    "healthz": ({200}, "admin /healthz probe every 20 ms (latency reported)"),
}


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.status = collections.defaultdict(collections.Counter)
        self.retry_after = collections.Counter()
        self.unexplained = collections.defaultdict(list)
        self.reconnects = 0
        self.healthz_ms = []

    def record(self, cls, status, body=b"", retry_after=False):
        with self.lock:
            self.status[cls][status] += 1
            if retry_after:
                self.retry_after[cls] += 1
            if status not in EXPECTED[cls][0] and len(self.unexplained[cls]) < 5:
                text = body[:200].decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
                self.unexplained[cls].append((status, text))


class Client:
    """One keep-alive connection; reconnects (counted) when the server closed it."""

    def __init__(self, addr, stats):
        self.host, port = addr.rsplit(":", 1)
        self.port = int(port)
        self.stats = stats
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if body is not None and not isinstance(body, bytes):
            body = body.encode()
        for attempt in (0, 1):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                if r.will_close:
                    self.close()
                return r.status, data, r.getheader("Retry-After") is not None
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self.close()
                # A kept-alive connection closed under us before any answer: the usual
                # keep-alive race, retried once on a new connection. A fresh one failing is real.
                if fresh or attempt == 1:
                    return None, repr(e).encode(), False
                with self.stats.lock:
                    self.stats.reconnects += 1
            except (OSError, http.client.HTTPException) as e:
                self.close()
                return None, repr(e).encode(), False
        return None, b"unreachable", False

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def form(**fields):
    from urllib.parse import urlencode
    return urlencode(fields)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def xff(addr):
    return {"X-Forwarded-For": addr}


def token_request(c, fields, addr):
    return c.request("POST", "/oauth/token", form(**fields), {**FORM, **xff(addr)})


def login(c, username, password, addr):
    """The seeds' password login (POST /oauth/authorize, JSON, legacy public client)."""
    body = json.dumps({"grant_type": "password", "username": username, "password": password,
                       "client_id": CLIENT_ID})
    return c.request("POST", "/oauth/authorize", body,
                     {"Content-Type": "application/json", **xff(addr)})


def sign_up(c, username, addr):
    body = json.dumps({"username": username, "password": PASSWORD, "client_id": CLIENT_ID})
    return c.request("POST", "/sign-up", body, {"Content-Type": "application/json", **xff(addr)})


def bearer(token):
    return {"Authorization": "Bearer " + token}


def random_token():
    return secrets.token_urlsafe(32)


class Setup:
    """Accounts and tokens made before the clock starts; every step must succeed."""

    def __init__(self, proxy, stats, workers):
        self.c = Client(proxy, stats)
        self.n = 0
        self.valid, self.revoked, self.refresh = [], [], []
        self.login_accounts = [[f"soak-login-{w}-{i}" for i in range(3)] for w in range(workers)]
        self.victims = [f"soak-victim-{i}" for i in range(5)]

    def addr(self):
        self.n += 1
        return f"10.200.{self.n // 250}.{self.n % 250 + 1}"

    def must(self, what, result, status):
        if result[0] != status:
            sys.exit(f"set-up failed: {what}: {result[0]} {result[1][:300]!r}")
        return json.loads(result[1]) if result[1] else None

    def user(self, name):
        self.must(f"sign-up {name}", sign_up(self.c, name, self.addr()), 201)

    def token(self, name):
        return self.must(f"login {name}", login(self.c, name, PASSWORD, self.addr()), 200)

    def run(self, refresh_chains):
        for name in ["soak-valid", "soak-revoked", *self.victims,
                     *[a for accounts in self.login_accounts for a in accounts],
                     *[f"soak-refresh-{k}" for k in range(refresh_chains)]]:
            self.user(name)
        self.valid = [self.token("soak-valid")["access_token"] for _ in range(40)]
        for _ in range(20):
            t = self.token("soak-revoked")["access_token"]
            self.must("revoke", self.c.request(
                "POST", "/oauth/revoke", form(token=t, client_id=CLIENT_ID), FORM), 200)
            self.revoked.append(t)
        self.refresh = [self.token(f"soak-refresh-{k}")["refresh_token"]
                        for k in range(refresh_chains)]
        self.c.close()


INVALID = [
    "not a token", "x", "abc!def", "Zm9v.YmFy.YmF6", "%00%00", "a" * 700,
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "tok\"en", "tok,en", "-" * 43,
]


def run_workers(args, setup, stats, deadline):
    def forever(fn):
        def loop():
            rng = random.Random()
            c = Client(args.proxy, stats)
            while time.monotonic() < deadline:
                fn(c, rng)
            c.close()
        return loop

    def valid(c, rng):
        s, b, _ = c.request("GET", "/api/v", headers=bearer(rng.choice(setup.valid)))
        stats.record("valid", s, b)

    def revoked(c, rng):
        s, b, _ = c.request("GET", "/api/r", headers=bearer(rng.choice(setup.revoked)))
        stats.record("revoked", s, b)

    def invalid(c, rng):
        s, b, _ = c.request("GET", "/api/i", headers=bearer(rng.choice(INVALID)))
        stats.record("invalid", s, b)

    def random_tokens(c, rng):
        s, b, _ = c.request("GET", "/api/n", headers=bearer(random_token()))
        stats.record("random", s, b)

    def use_fresh(c, body):
        try:
            token = json.loads(body)["access_token"]
        except (ValueError, KeyError):
            return
        s, b, _ = c.request("GET", "/api/f", headers=bearer(token))
        stats.record("fresh_use", s, b)

    def login_ok(w):
        accounts = setup.login_accounts[w]
        addr = f"10.1.{w}.1"

        def step(c, rng):
            s, b, ra = login(c, rng.choice(accounts), PASSWORD, addr)
            stats.record("login_ok", s, b, ra)
            if s == 200:
                use_fresh(c, b)
        return step

    def login_bad(c, rng):
        addr = f"10.66.0.{rng.randrange(1, 33)}"
        name = rng.choice(setup.victims) if rng.random() < 0.5 else "nobody-" + random_token()[:8]
        s, b, ra = login(c, name, "wrong-password-" + random_token()[:6], addr)
        stats.record("login_bad", s, b, ra)

    def refresher(k):
        def step(c, rng):
            s, b, ra = token_request(c, {"grant_type": "refresh_token",
                                         "refresh_token": setup.refresh[k],
                                         "client_id": CLIENT_ID}, f"10.2.{k}.1")
            stats.record("refresh", s, b, ra)
            if s == 200:
                setup.refresh[k] = json.loads(b)["refresh_token"]
                use_fresh(c, b)
        return step

    signups = iter(range(10**9))

    def signup(c, rng):
        n = next(signups)
        name = f"soak-su-{n}-{''.join(rng.choices(string.ascii_lowercase, k=6))}"
        s, b, ra = sign_up(c, name, f"10.77.{n % 64}.1")
        stats.record("signup", s, b, ra)

    admin = Client(args.admin, stats)

    def healthz():
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            s, b, _ = admin.request("GET", "/healthz")
            ms = (time.perf_counter() - t0) * 1000
            stats.record("healthz", s, b)
            with stats.lock:
                stats.healthz_ms.append(ms)
            time.sleep(0.02)

    loops = [forever(valid)] * args.valid_workers + [
        forever(revoked), forever(invalid), forever(random_tokens), forever(login_bad),
        forever(signup)]
    loops += [forever(login_ok(w)) for w in range(args.login_workers)]
    loops += [forever(refresher(k)) for k in range(args.refresh_chains)]
    threads = [threading.Thread(target=f, daemon=True) for f in loops + [healthz]]
    for t in threads:
        t.start()
    return threads


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def metric_lines(admin, prefix):
    c = Client(admin, Stats())
    s, b, _ = c.request("GET", "/metrics")
    c.close()
    if s != 200:
        return []
    return [l for l in b.decode().splitlines() if l.startswith(prefix)]


def percentile(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy", required=True)
    ap.add_argument("--admin", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--duration", type=int, required=True)
    ap.add_argument("--max-entries", type=int, required=True)
    ap.add_argument("--max-hashes", type=int, required=True)
    ap.add_argument("--valid-workers", type=int, default=3)
    ap.add_argument("--login-workers", type=int, default=2)
    ap.add_argument("--refresh-chains", type=int, default=2)
    ap.add_argument("--report", required=True)
    ap.add_argument("--note", default="")
    args = ap.parse_args()

    stats = Stats()
    rss_idle = rss_kib(args.pid)
    setup = Setup(args.proxy, stats, args.login_workers)
    setup.run(args.refresh_chains)
    rss_start = rss_kib(args.pid)
    started = time.monotonic()
    deadline = started + args.duration
    threads = run_workers(args, setup, stats, deadline)
    samples = [(0.0, rss_start)]
    died = False
    while time.monotonic() < deadline:
        time.sleep(1)
        try:
            samples.append((time.monotonic() - started, rss_kib(args.pid)))
        except (OSError, RuntimeError):
            died = True
            break
    for t in threads:
        t.join(timeout=40)
    elapsed = time.monotonic() - started
    rss_end = samples[-1][1]
    rss_peak = max(s for _, s in samples)
    # What the config lets grow beyond the start: every cache entry (positive + negative,
    # cache.max_entries in all) at a generous 1 KiB each, and the argon2 blocks of the two
    # hashing queues (verify and hash), oauth.max_concurrent_hashes each at 19 MiB.
    allowance = args.max_entries + 2 * args.max_hashes * 19 * 1024
    bound = rss_start + allowance
    minute = [s for t, s in samples if 55 <= t <= 65]
    cache_lines = metric_lines(args.admin, "gatehouse_token_cache")
    report(args, stats, elapsed, died, rss_idle, rss_start, rss_peak, rss_end, bound,
           allowance, minute[0] if minute else None, cache_lines)


def report(args, stats, elapsed, died, idle, start, peak, end, bound, allowance, at_minute,
           cache_lines):
    out = []
    total = sum(sum(c.values()) for c in stats.status.values())
    out.append(f"# Gatehouse soak\n\n{args.note}\n")
    out.append(f"Duration {elapsed:.0f} s; {total} requests ({total / elapsed:.0f}/s); "
               f"{stats.reconnects} keep-alive reconnects (retried once, not counted as errors).\n")
    out.append("| Class | Requests | 2xx | 4xx | 5xx | No answer | Statuses | Retry-After | Expected |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    failures = []
    for cls, (ok, why) in EXPECTED.items():
        c = stats.status.get(cls, collections.Counter())
        n = sum(c.values())
        by = lambda lo: sum(v for s, v in c.items() if s is not None and lo <= s < lo + 100)
        statuses = ", ".join(f"{s}: {v}" for s, v in sorted(c.items(), key=lambda kv: kv[0] or 0))
        out.append(f"| {cls} | {n} | {by(200)} | {by(400)} | {by(500)} | {c.get(None, 0)} | "
                   f"{statuses} | {stats.retry_after.get(cls, 0)} | "
                   f"{'/'.join(map(str, sorted(ok)))}: {why} |")
        bad = {s: v for s, v in c.items() if s not in ok}
        if bad:
            failures.append(f"{cls}: unexplained {bad}, e.g. {stats.unexplained[cls][:2]}")
        if n == 0:
            failures.append(f"{cls}: no requests were made")
    h = stats.healthz_ms
    out.append(f"\n/healthz latency during the load ({len(h)} probes): p50 {percentile(h, 50):.1f} ms, "
               f"p99 {percentile(h, 99):.1f} ms, max {max(h, default=0):.1f} ms.\n")
    mib = lambda kib: f"{kib / 1024:.1f} MiB"
    out.append(f"RSS (VmRSS of the Gatehouse process): idle after start {mib(idle)}; "
               f"start of the load (after set-up) {mib(start)}; after 60 s "
               f"{mib(at_minute) if at_minute else 'n/a'}; peak {mib(peak)}; end {mib(end)}. "
               f"Bound: start + {mib(allowance)} (cache.max_entries = {args.max_entries} at 1 KiB "
               f"+ 2 x oauth.max_concurrent_hashes = {args.max_hashes} x 19 MiB argon2) = {mib(bound)}.\n")
    if cache_lines:
        out.append("Token cache counters at the end:\n\n```\n" + "\n".join(cache_lines) + "\n```\n")
    if died:
        failures.append("Gatehouse exited during the soak")
    if end > bound:
        failures.append(f"end RSS {mib(end)} is over the bound {mib(bound)}")
    if failures:
        out.append("## Failures\n\n" + "\n".join(f"* {f}" for f in failures) + "\n")
    else:
        out.append("Result: every response explained, no 5xx, end RSS under the bound.\n")
    text = "\n".join(out)
    with open(args.report, "w") as f:
        f.write(text)
    print(text)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
