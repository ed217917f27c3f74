#!/usr/bin/env python3
"""Drives bench/grant_cost.sh: N token-endpoint grants on keep-alive connections from C threads,
after a set-up that is not counted (sign-ups, the refresh chains' first logins, warm-up).

    grant_cost.py BASE_URL MODE N C ZERO_CMD DUMP_CMD    # MODE: refresh | client_credentials
"""
import base64, http.client, json, subprocess, sys, threading, urllib.parse

base, mode, n, c, zero, dump = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
host = urllib.parse.urlparse(base).netloc
basic = "Basic " + base64.b64encode(b"bench-service:bench-service-secret-0123456789").decode()


def post(conn, path, body, headers):
    conn.request("POST", path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def form(d):
    return urllib.parse.urlencode(d), {"Content-Type": "application/x-www-form-urlencoded"}


def one(conn, state):
    if mode == "refresh":
        body, h = form({"grant_type": "refresh_token", "refresh_token": state["r"], "client_id": "bench-legacy"})
        status, data = post(conn, "/oauth/token", body, h)
        if status == 200:
            state["r"] = json.loads(data)["refresh_token"]
    else:
        body, h = form({"grant_type": "client_credentials"})
        h["Authorization"] = basic
        status, data = post(conn, "/oauth/token", body, h)
    if status != 200:
        state["errors"] += 1


states, conns = [], []
for w in range(c):
    conn = http.client.HTTPConnection(host)
    user = {"username": f"cost{w}", "password": "bench-password", "client_id": "bench-legacy"}
    post(conn, "/sign-up", json.dumps(user), {"Content-Type": "application/json"})
    state = {"errors": 0, "r": None}
    if mode == "refresh":
        status, data = post(conn, "/oauth/authorize", json.dumps(dict(user, grant_type="password")),
                            {"Content-Type": "application/json"})
        state["r"] = json.loads(data)["refresh_token"]
    for _ in range(5):
        one(conn, state)
    states.append(state)
    conns.append(conn)

subprocess.run(zero, shell=True, check=True, capture_output=True)
per = n // c


def run(i):
    for _ in range(per):
        one(conns[i], states[i])


threads = [threading.Thread(target=run, args=(i,)) for i in range(c)]
for t in threads:
    t.start()
for t in threads:
    t.join()
subprocess.run(dump, shell=True, check=True, capture_output=True)
print(per * c, sum(s["errors"] for s in states))
