#!/usr/bin/env python3
"""`make chaos`: the real local stack under SIGKILL.

Repeated runs of a random workload through the API while the functions (mid-sync), the
stream pump and the remote (json-server) are killed with SIGKILL at random moments and
restarted. After each run the stack is left to converge, and the remote is compared with the
local copy: every local post and comment on the remote exactly once (ids differ, so entities
are compared by content: a comment by its own fields and its post's). Writes the figures to
bench/chaos.json; exits non-zero if anything was lost or duplicated.

Run through infra/local/chaos.sh, which brings a stack up on ports of its own and down after.
"""
import collections
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
API = f"http://127.0.0.1:{os.environ['API_PORT']}"
REMOTE = os.environ["REMOTE_BASE_URL"]
WORDS = ["alpha", "beta", "gamma", "delta"]


def http(method, url, body=None, token=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            text = r.read()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError):
        return 0, None


def stack(command):
    """Runs one of components.sh's commands against the stack."""
    script = f"source infra/local/env.sh; source infra/local/components.sh; {command}"
    subprocess.run(["bash", "-c", script], cwd=ROOT, check=True)


def kill(name):
    """SIGKILL, with every process under it."""
    stack(f"kill_component {name}")


def start(name):
    stack(f"start_{name}")


def wait_for(url, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if http("GET", url, timeout=5)[0] == 200:
            return True
        time.sleep(0.3)
    return False


def login():
    status, body = http("POST", f"{API}/auth/token",
                        {"username": os.environ.get("DEMO_USER", "demo"),
                         "password": os.environ.get("DEMO_PASSWORD", "demo-password")})
    assert status == 200, f"login: {status}"
    return body["access_token"]


def listing(base, kind):
    status, body = http("GET", f"{base}/{kind}", timeout=60)
    assert status == 200, f"GET {base}/{kind}: {status}"
    return body


def write(rng, token, posts, comments):
    """One random write, as a team's traffic is: mostly edits, some creates and deletes."""
    roll = rng.random()
    title = f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
    if roll < 0.2 or not posts:
        status, body = http("POST", f"{API}/posts", {"title": title, "body": "chaos"}, token)
        if status == 201:
            posts.append(body["id"])
    elif roll < 0.45:
        http("PATCH", f"{API}/posts/{rng.choice(posts)}", {"title": title}, token)
    elif roll < 0.5:
        post = posts.pop(rng.randrange(len(posts)))
        http("DELETE", f"{API}/posts/{post}", token=token)
    elif roll < 0.75:
        status, body = http("POST", f"{API}/comments",
                            {"postId": rng.choice(posts), "name": title,
                             "email": "chaos@example.com", "body": "chaos"}, token)
        if status == 201:
            comments.append(body["id"])
    elif roll < 0.95 and comments:
        http("PATCH", f"{API}/comments/{rng.choice(comments)}", {"name": title}, token)
    elif comments:
        comment = comments.pop(rng.randrange(len(comments)))
        http("DELETE", f"{API}/comments/{comment}", token=token)


def sync_now(token):
    return http("POST", f"{API}/sync/run", token=token, timeout=60)


def chaos(rng, token, kills):
    """One random kill, at a random moment."""
    what = rng.choice(["functions", "pump", "remote"])
    if what == "functions":
        # A sync in flight when the functions die: killed at a random await point.
        runner = threading.Thread(target=sync_now, args=(token,), daemon=True)
        runner.start()
        time.sleep(rng.uniform(0.0, 1.5))
        restart_functions(kills)
    elif what == "pump":
        kill("pump")
        time.sleep(rng.uniform(0.0, 2.0))
        start("pump")
    else:
        kill("remote")
        time.sleep(rng.uniform(0.0, 3.0))
        start("remote")
        # Not /posts/1: a run may have deleted it, and the remote with it.
        assert wait_for(f"{REMOTE}/posts?_limit=1", 60), "json-server did not come back (its db file?)"
    kills[what] += 1


def port_free(port):
    import socket
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def restart_functions(kills):
    """Kills cargo lambda watch and its functions, and starts it again. A new watch started
    right after a kill now and then exits at once (cargo-lambda's, not ours): then it is
    started again, and counted."""
    for attempt in range(3):
        kill("functions")
        deadline = time.time() + 10
        while not port_free(int(os.environ["LAMBDA_PORT"])) and time.time() < deadline:
            time.sleep(0.2)
        start("functions")
        if wait_for(f"{API}/posts?_limit=1", 30):
            return
        kills["functions_restart_retried"] += 1
    raise SystemExit("the functions did not come back after 3 starts")


def converge(token, run, seconds=180):
    """Syncs until a sentinel written last is on the remote (the stream is in order, so
    everything written before it has been captured by then), then until the queue is empty,
    nothing is pending and a run makes no call."""
    deadline = time.time() + seconds
    sentinel = f"sentinel {run}"
    status = 0
    while status != 201 and time.time() < deadline:
        status, _ = http("POST", f"{API}/posts", {"title": sentinel, "body": "chaos"}, token)
    while time.time() < deadline:
        sync_now(token)
        _, found = http("GET", f"{REMOTE}/posts?title={sentinel.replace(' ', '%20')}")
        if found:
            break
        time.sleep(0.5)
    quiet = 0
    while time.time() < deadline:
        status, report = sync_now(token)
        _, state = http("GET", f"{API}/sync/status")
        calm = (
            status == 200 and state is not None
            and report["calls"] == {"POST": 0, "PUT": 0, "PATCH": 0, "DELETE": 0}
            and state["queue"]["queued"] + state["queue"]["inFlight"] == 0
            and state["entities"]["pending"] + state["entities"]["waiting"] + state["entities"]["failed"] == 0
        )
        quiet = quiet + 1 if calm else 0
        if quiet == 2:
            return state
        time.sleep(0.5)
    return None


def content(base):
    posts = listing(base, "posts")
    by_id = {p["id"]: (p["userId"], p["title"], p["body"]) for p in posts}
    comments = listing(base, "comments")
    return (
        collections.Counter(by_id.values()),
        collections.Counter((by_id.get(c["postId"]), c["name"], c["email"], c["body"]) for c in comments),
    )


def compare():
    """(lost, duplicated, examples): local entities missing on the remote, remote extras."""
    local, remote = content(API), content(REMOTE)
    lost = duplicated = 0
    examples = []
    for mine, theirs in zip(local, remote):
        missing, extra = mine - theirs, theirs - mine
        lost += sum(missing.values())
        duplicated += sum(extra.values())
        examples += [f"missing {k}" for k in list(missing)[:3]] + [f"extra {k}" for k in list(extra)[:3]]
    return lost, duplicated, examples


def main():
    runs = int(os.environ.get("CHAOS_RUNS", "50"))
    seed = int(os.environ.get("CHAOS_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    print(f"chaos: {runs} runs, seed {seed} (CHAOS_SEED={seed} repeats the choices)", flush=True)
    token = login()
    posts = [p["id"] for p in listing(API, "posts")]
    comments = [c["id"] for c in listing(API, "comments")]
    kills = collections.Counter()
    lost_total = duplicated_total = writes = 0
    started = time.time()
    for run in range(1, runs + 1):
        token = login()
        for _ in range(rng.randint(8, 20)):
            write(rng, token, posts, comments)
            writes += 1
            if rng.random() < 0.08:
                chaos(rng, token, kills)
        state = converge(token, run)
        if state is None:
            print(f"run {run}: did not converge", flush=True)
            lost, duplicated, examples = compare()
            lost = max(lost, 1)
        else:
            lost, duplicated, examples = compare()
            if state["queue"]["captureFailed"]:
                examples.append(f"{state['queue']['captureFailed']} stream batches given up")
                lost += state["queue"]["captureFailed"]
        lost_total += lost
        duplicated_total += duplicated
        print(f"run {run}: {writes} writes so far, kills {dict(kills)}, lost {lost}, duplicated {duplicated}"
              + (f" {examples}" if examples else ""), flush=True)
    figures = {
        "chaos_runs": runs,
        "chaos_lost": lost_total,
        "chaos_duplicated": duplicated_total,
        "chaos_writes": writes,
        "chaos_kills": sum(n for k, n in kills.items() if k != "functions_restart_retried"),
        "chaos_kills_by_component": dict(kills),
        "chaos_seconds": round(time.time() - started, 1),
        "chaos_seed": seed,
    }
    with open(os.path.join(ROOT, "bench", "chaos.json"), "w") as f:
        json.dump(figures, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps(figures), flush=True)
    sys.exit(1 if lost_total or duplicated_total else 0)


if __name__ == "__main__":
    main()
