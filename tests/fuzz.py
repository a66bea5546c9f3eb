#!/usr/bin/env python3
"""Fuzzes a running stack with schemathesis from the API's own openapi.json, writes included.

Every answer must conform to the document (status code, content type, headers, body schema),
none may be a 5xx, and a request the document forbids must be refused with a 4xx. Prints the
figures as JSON (fuzz_requests, fuzz_5xx, fuzz_nonconforming) and exits 1 on any failure.

  tests/fuzz.py --url http://127.0.0.1:8080 [--examples 30] [--seed 1] [--out figures.json]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

CONFORMANCE = [
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]
CHECKS = ["not_a_server_error", *CONFORMANCE, "negative_data_rejection"]


def token(url: str, user: str, password: str) -> str:
    body = json.dumps({"username": user, "password": password}).encode()
    req = urllib.request.Request(f"{url}/auth/token", body, {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)["access_token"]


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--examples", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("--user", default=os.environ.get("DEMO_USER", "demo"))
    ap.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", "demo-password"))
    args = ap.parse_args()
    st = os.path.join(root, ".tools/venv/bin/schemathesis")
    with tempfile.TemporaryDirectory() as reports:
        run = subprocess.run(
            [st, "run", f"{args.url}/openapi.json", "--url", args.url,
             "-H", f"Authorization: Bearer {token(args.url, args.user, args.password)}",
             "--checks", ",".join(CHECKS), "-n", str(args.examples), "--seed", str(args.seed),
             "--report", "ndjson", "--report-dir", reports, "--request-timeout", "30",
             "--generation-database", "none",
             # A sync run does real work against the remote (seconds each, growing with
             # what the fuzzing wrote): its conformance is tested in tests/sync_e2e.rs.
             "--exclude-operation-id", "post_sync_run"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            # Hypothesis keeps its example database in the working directory; in the
            # checkout it would make `cargo lambda watch` restart every function mid-run.
            cwd=reports,
            env={**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"},
        )
        [report] = glob.glob(os.path.join(reports, "*.ndjson"))
        requests = server_errors = nonconforming = 0
        operations = set()
        for line in open(report):
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if not finished:
                continue
            recorder = finished["recorder"]
            failed_cases = {
                case for case, checks in (recorder.get("checks") or {}).items()
                if any(c["name"] in CONFORMANCE and c["status"] == "failure" for c in checks)
            }
            for case, interaction in (recorder.get("interactions") or {}).items():
                requests += 1
                operations.add(recorder["label"])
                status = (interaction.get("response") or {}).get("status_code", 0)
                server_errors += status >= 500
                nonconforming += case in failed_cases
    figures = {
        "fuzz_requests": requests,
        "fuzz_operations": len(operations),
        "fuzz_5xx": server_errors,
        "fuzz_nonconforming": nonconforming,
        "fuzz_seed": args.seed,
        "fuzz_examples": args.examples,
        "schemathesis_exit": run.returncode,
    }
    print(json.dumps(figures))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(figures, f, indent=2)
            f.write("\n")
    if run.returncode != 0 or server_errors or nonconforming or requests == 0:
        print(run.stdout[-20000:], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
