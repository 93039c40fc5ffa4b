#!/usr/bin/env python3
"""Steady gRPC load through the edge, recording every call, for the replica-churn step of run.sh.

Sends --rate calls per second for --duration seconds (or until SIGTERM/SIGINT): GetSession of a
session this run created earlier (--get-share of the calls) and CreateSession with a unique
external_ref and NO request_id (the rest), each with a --deadline. Calls are started
asynchronously (grpc futures: the call runs on gRPC's own threads and the scheduler never waits
for it), so slow or stuck calls do not lower the rate. The channel is a plain one: no service
config and none of the client helper's retry policies, so every failure the edge lets through is
seen and counted.

Every call is written as one JSON line to --calls: start and end (Unix time, seconds), method,
code, ErrorInfo reason (from grpc-status-details-bin), external_ref for creates, and the session id
of an OK create. A JSON summary is printed on stdout. The API key comes from CONVENE_API_KEY.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2, status_pb2

from convene.v1 import session_pb2, session_service_pb2, session_service_pb2_grpc

try:
    from grpc_status import rpc_status
except ImportError:  # the venv normally has grpcio-status; parse the trailer by hand otherwise
    rpc_status = None

GET = "GetSession"
CREATE = "CreateSession"


def error_reason(call) -> str:
    """The ErrorInfo reason of a failed call, or "" when it carries none."""
    status = None
    if rpc_status is not None:
        try:
            status = rpc_status.from_call(call)
        except ValueError:  # details whose code disagrees with the call's: read them anyway
            status = None
    if status is None:
        for key, value in call.trailing_metadata() or ():
            if key == "grpc-status-details-bin":
                raw = value if isinstance(value, bytes) else base64.b64decode(value + "=" * (-len(value) % 4))
                status = status_pb2.Status.FromString(raw)
    if status is None:
        return ""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


class Load:
    def __init__(self, args):
        self.args = args
        self.channel = grpc.insecure_channel(args.target)
        self.stub = session_service_pb2_grpc.SessionServiceStub(self.channel)
        self.metadata = (("authorization", "Bearer " + os.environ["CONVENE_API_KEY"].strip()),)
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)
        self.records = []
        self.sessions = []  # ids of OK creates: what GetSession reads
        self.in_flight = 0
        self.max_in_flight = 0
        self.refs = 0
        self.stopping = threading.Event()
        self.random = random.Random(args.seed)
        start = timestamp_pb2.Timestamp(seconds=1_930_000_000)  # 2031
        end = timestamp_pb2.Timestamp(seconds=1_930_000_000 + 1800)
        self.create_template = session_service_pb2.CreateSessionRequest(
            title="load",
            media=session_pb2.MEDIA_TYPE_VIDEO,
            scheduled_start_time=start,
            scheduled_end_time=end,
            participants=[session_pb2.ParticipantSpec(user_id="dr-load", role=session_pb2.PARTICIPANT_ROLE_HOST)],
        )

    def _next_ref(self) -> str:
        self.refs += 1
        return f"{self.args.ref_prefix}{self.refs:06d}"

    def issue(self, phase: str) -> None:
        """Starts one call; its outcome is recorded when it completes."""
        with self.lock:
            pool = len(self.sessions)
            session_id = self.sessions[self.random.randrange(pool)] if pool else None
        started = time.time()
        if session_id is not None and phase != "seed" and self.random.random() < self.args.get_share:
            method, ref = GET, None
            future = self.stub.GetSession.future(
                session_service_pb2.GetSessionRequest(session_id=session_id),
                timeout=self.args.deadline, metadata=self.metadata)
        else:
            method, ref = CREATE, self._next_ref()
            request = session_service_pb2.CreateSessionRequest()
            request.CopyFrom(self.create_template)
            request.external_ref = ref
            future = self.stub.CreateSession.future(request, timeout=self.args.deadline, metadata=self.metadata)
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        future.add_done_callback(lambda f: self._completed(f, phase, method, ref, started))

    def _completed(self, future, phase, method, ref, started) -> None:
        ended = time.time()
        code = future.code()
        record = {"phase": phase, "start": round(started, 4), "end": round(ended, 4), "method": method,
                  "code": code.name if code is not None else "CANCELLED", "reason": ""}
        if ref is not None:
            record["external_ref"] = ref
        session_id = None
        if code == grpc.StatusCode.OK:
            if method == CREATE:
                session_id = future.result().session.id
                record["session_id"] = session_id
        else:
            try:
                record["reason"] = error_reason(future)
            except Exception as e:  # a malformed trailer is itself worth seeing
                record["reason"] = "UNPARSEABLE:" + type(e).__name__
        with self.lock:
            self.records.append(record)
            if session_id:
                self.sessions.append(session_id)
            self.in_flight -= 1
            self.done.notify_all()

    def wait_idle(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        with self.lock:
            while self.in_flight and time.monotonic() < end:
                self.done.wait(0.1)

    def run(self) -> dict:
        args = self.args
        # Seed: a few creates one after another, so GetSession has sessions from the first second.
        for _ in range(args.seed_creates):
            self.issue("seed")
            self.wait_idle(args.deadline + 1)
        if args.ready_file:
            with open(args.ready_file, "w") as f:
                f.write(f"{time.time():.4f}\n")
        interval = 1.0 / args.rate
        t0 = time.monotonic()
        stop_at = t0 + args.duration
        issued = 0
        max_lag = 0.0
        while not self.stopping.is_set():
            due = t0 + issued * interval
            if due >= stop_at:
                break
            now = time.monotonic()
            if now < due:
                self.stopping.wait(due - now)
                continue
            max_lag = max(max_lag, now - due)
            self.issue("load")
            issued += 1
        elapsed = time.monotonic() - t0
        self.wait_idle(args.deadline + 5)
        with self.lock:
            records = list(self.records)
            unfinished = self.in_flight
        self.channel.close()
        return self.summary(records, issued, elapsed, max_lag, unfinished)

    def summary(self, records, issued, elapsed, max_lag, unfinished) -> dict:
        if self.args.calls:
            with open(self.args.calls, "w") as f:
                for r in sorted(records, key=lambda r: r["start"]):
                    f.write(json.dumps(r, separators=(",", ":")) + "\n")
        timed = [r for r in records if r["phase"] == "load"]
        failures = Counter(f"{r['code']}/{r['reason']}" if r["reason"] else r["code"]
                           for r in timed if r["code"] != "OK")
        latencies = sorted((r["end"] - r["start"]) * 1000 for r in timed)

        def pct(p):
            return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1) if latencies else None

        return {
            "target": self.args.target,
            "calls": len(timed),
            "issued": issued,
            "unfinished": unfinished,
            "seconds": round(elapsed, 2),
            "rate": round(issued / elapsed, 1) if elapsed else 0,
            "max_schedule_lag_ms": round(max_lag * 1000, 1),
            "max_in_flight": self.max_in_flight,
            "by_method": dict(Counter(r["method"] for r in timed)),
            "ok": sum(1 for r in timed if r["code"] == "OK"),
            "failed": sum(failures.values()),
            "failures": dict(failures),
            "latency_ms": {"p50": pct(0.50), "p99": pct(0.99), "max": pct(1.0)},
            "seed_calls": len(records) - len(timed),
            "seed_failed": sum(1 for r in records if r["phase"] == "seed" and r["code"] != "OK"),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of the edge (plaintext gRPC)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (SIGTERM stops earlier)")
    parser.add_argument("--rate", type=float, default=150.0, help="calls started per second")
    parser.add_argument("--get-share", type=float, default=0.7, help="share of GetSession calls")
    parser.add_argument("--deadline", type=float, default=5.0, help="deadline of each call, seconds")
    parser.add_argument("--seed-creates", type=int, default=20, help="creates before the timed load")
    parser.add_argument("--ref-prefix", default="load-", help="external_ref prefix of this run's creates")
    parser.add_argument("--calls", help="write every call here, one JSON line each")
    parser.add_argument("--ready-file", help="written when the timed load starts")
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    args = parser.parse_args()
    if not os.environ.get("CONVENE_API_KEY"):
        parser.error("CONVENE_API_KEY is not set")

    load = Load(args)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: load.stopping.set())
    print(json.dumps(load.run(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
