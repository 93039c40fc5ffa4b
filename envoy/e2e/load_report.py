#!/usr/bin/env python3
"""Counts one churn scenario of run.sh from load.py's call records, and prints them as JSON.

  --calls     load.py's records (one JSON line per call)
  --events    what run.sh did and when: lines "<unix time> <label>" (a kill, a restart, ...)
  --existing  optional: the sessions in the database after the scenario, lines "<external_ref> <id>"
  --stats-before/--stats-after  optional: Envoy's cluster stats ("name: value" lines) around it

A failure is "near an event" when the call ended within --window seconds after one of the events
(--window-events: which labels count).
With --existing, creates are checked against the database: every acknowledged (OK) create must be
there with the id it was given, and a failed create that is there anyway is counted by its code and
reason (only UNKNOWN COMMIT_OUTCOME_UNKNOWN and DEADLINE_EXCEEDED say that the change may have
been applied). The output's "line" field is a one-line summary.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

# Failed creates that may nevertheless have been applied, by the contract (README: error reasons).
MAY_HAVE_APPLIED = {"UNKNOWN/COMMIT_OUTCOME_UNKNOWN", "DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED/DEADLINE_EXCEEDED"}


def key(r) -> str:
    return f"{r['code']}/{r['reason']}" if r["reason"] else r["code"]


def read_stats(path):
    stats = {}
    if path:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(": ")
                if value.strip().isdigit():
                    stats[name.strip()] = int(value)
    return stats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--calls", required=True)
    p.add_argument("--events", required=True)
    p.add_argument("--existing")
    p.add_argument("--stats-before")
    p.add_argument("--stats-after")
    p.add_argument("--window", type=float, default=2.0)
    p.add_argument("--window-events", help="comma-separated labels of the events that open a window (default: all)")
    a = p.parse_args()

    with open(a.calls) as f:
        records = [json.loads(line) for line in f if line.strip()]
    with open(a.events) as f:
        events = [(float(t), label) for t, label in (line.split(None, 1) for line in f if line.strip())]
    events.sort()
    t0 = min((r["start"] for r in records if r["phase"] == "load"), default=events[0][0] if events else 0)

    timed = [r for r in records if r["phase"] == "load"]
    failed = [r for r in timed if r["code"] != "OK"]

    openers = set(a.window_events.split(",")) if a.window_events else {label.strip() for _, label in events}

    def since_event(r):
        """Seconds from the latest window-opening event at or before the call's end (None: none before it)."""
        before = [t for t, label in events if t <= r["end"] and label.strip() in openers]
        return r["end"] - before[-1] if before else None

    near = [r for r in failed if since_event(r) is not None and since_event(r) <= a.window]
    far = [r for r in failed if r not in near]
    out = {
        "name": a.name,
        "calls": len(timed),
        "ok": len(timed) - len(failed),
        "failed": len(failed),
        "failures": dict(Counter(key(r) for r in failed)),
        "failed_near_event": len(near),
        "failed_not_near_event": len(far),
        "failures_not_near_event": dict(Counter(key(r) for r in far)),
        "failed_not_unavailable": sum(1 for r in failed if r["code"] != "UNAVAILABLE"),
        "failure_seconds_after_event": sorted({round(s, 2) for s in (since_event(r) for r in failed) if s is not None}),
        "events": [{"at": round(t - t0, 2), "what": label.strip()} for t, label in events],
        "window_s": a.window,
    }
    # Per second of the load (by start): calls, failed, slowest call in ms.
    seconds = {}
    for r in timed:
        row = seconds.setdefault(int(r["start"] - t0), [0, 0, 0])
        row[0] += 1
        row[1] += r["code"] != "OK"
        row[2] = max(row[2], round((r["end"] - r["start"]) * 1000))
    out["timeline"] = [[s] + seconds[s] for s in sorted(seconds)]

    creates = [r for r in records if r["method"] == "CreateSession"]
    if a.existing:
        existing = {}
        with open(a.existing) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    existing[parts[0]] = parts[1]
        acked = [r for r in creates if r["code"] == "OK"]
        lost = [r for r in acked if existing.get(r["external_ref"]) != r.get("session_id")]
        failed_creates = [r for r in creates if r["code"] != "OK"]
        failed_there = [r for r in failed_creates if r["external_ref"] in existing]
        out.update({
            "creates": len(creates),
            "creates_acked": len(acked),
            "acked_lost": len(lost),
            "acked_lost_refs": [r["external_ref"] for r in lost][:20],
            "creates_failed": len(failed_creates),
            "creates_failed_by": dict(Counter(key(r) for r in failed_creates)),
            "failed_creates_existing": len(failed_there),
            "failed_creates_existing_by": dict(Counter(key(r) for r in failed_there)),
            "failed_creates_existing_unexplained": sum(1 for r in failed_there if key(r) not in MAY_HAVE_APPLIED),
            "deadline_creates_existing": sum(1 for r in failed_there if r["code"] == "DEADLINE_EXCEEDED"),
            "unknown_creates_existing": sum(1 for r in failed_there if r["code"] == "UNKNOWN"),
            "unavailable_creates_existing": sum(1 for r in failed_there if r["code"] == "UNAVAILABLE"),
            "failed_creates_existing_calls": [
                {"code": key(r), "at": round(r["start"] - t0, 2), "took": round(r["end"] - r["start"], 2)}
                for r in failed_there][:100],
        })

    before, after = read_stats(a.stats_before), read_stats(a.stats_after)
    if after:
        out["envoy"] = {k.replace("cluster.convene.", ""): after[k] - before.get(k, 0)
                        for k in sorted(after) if after[k] - before.get(k, 0) and any(
                            w in k for w in ("retry", "outlier", "upstream_rq_", "connect_fail", "with_active_rq"))}

    latencies = sorted((r["end"] - r["start"]) * 1000 for r in timed)
    if latencies:
        out["latency_ms"] = {"p50": round(latencies[len(latencies) // 2]), "p99": round(latencies[int(len(latencies) * 0.99)]),
                             "max": round(latencies[-1])}

    def counts(c):
        return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"

    line = (f"{a.name}: {out['calls']} calls, {out['failed']} failed ({counts(out['failures'])}); "
            f"{out['failed_near_event']} ended within {a.window:g} s after an event, {out['failed_not_near_event']} later")
    if a.existing:
        other = out["failed_creates_existing"] - out["unavailable_creates_existing"] - out["deadline_creates_existing"]
        line += (f"; creates: {out['creates_acked']} acknowledged, {out['acked_lost']} of them lost; failed creates found "
                 f"in the database: UNAVAILABLE {out['unavailable_creates_existing']}, other errors {other}, "
                 f"DEADLINE_EXCEEDED {out['deadline_creates_existing']}")
    out["events_line"] = ", ".join(f"{e['what']} at {e['at']:.2f} s" for e in out["events"]) or "none"
    out["line"] = line
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
