#!/usr/bin/env python3
"""Summarises the CPU samples of a JFR recording: where the server's time goes, by library.

Usage: jfr-summary.py recording.jfr [FROM TO]
FROM and TO (ISO-8601 instants, e.g. 2026-11-22T05:42:00Z) keep only the samples between them: a
recording that ran from the server's start (so that starting it did not deoptimise warm code) is
cut down to one phase of the benchmark.
Prints the number of execution samples, the share of samples with a frame of each library
anywhere on the stack (inclusive), the Jdbi configuration/mapper hot spots, and the top methods
by self time (top frame).
"""
import collections
import json
import subprocess
import sys

LIBS = [
    ("Jdbi (org.jdbi)", "org.jdbi."),
    ("PostgreSQL JDBC (org.postgresql)", "org.postgresql."),
    ("HikariCP", "com.zaxxer."),
    ("protovalidate + CEL", ("build.buf.", "dev.cel.", "org.projectnessie.cel.")),
    ("protobuf", "com.google.protobuf."),
    ("gRPC", "io.grpc."),
    ("Convene (dev.convene)", "dev.convene."),
]
# Jdbi hot spots: per-call SQL-object attachment and mapper resolution, configuration copies, and
# the JFR statement events Jdbi itself emits while a recording runs (absent without JFR).
JDBI_HOT = [
    ("SQL object attached per call (Handle.attach, extensions)", ("org.jdbi.v3.core.Handle.attach", "ExtensionFactory")),
    ("column mapper resolution", ("ColumnMappers", "QualifiedColumnMapperFactory", "ConstructorMapper")),
    ("configuration copies (ConfigRegistry)", ("ConfigRegistry",)),
    ("argument binding", ("ArgumentBinder",)),
    ("Jdbi's own JFR statement events", ("JdbiStatementEvent", "attachJfrEvent", "Binding.describe")),
]


def main(path, start=None, end=None):
    out = subprocess.run(["jfr", "print", "--json", "--stack-depth", "256", "--events", "jdk.ExecutionSample", path],
                         check=True, capture_output=True, text=True).stdout
    events = json.loads(out)["recording"]["events"]
    stacks = []
    for e in events:
        t = e["values"]["startTime"]
        if (start and t < start) or (end and t > end):
            continue
        st = e["values"].get("stackTrace")
        if not st:
            continue
        frames = [f["method"]["type"]["name"].replace("/", ".") + "." + f["method"]["name"] for f in st["frames"]]
        stacks.append(frames)
    n = len(stacks)
    print("execution samples: %d" % n)
    if n == 0:
        return
    print("\ninclusive share of samples by library:")
    for name, prefix in LIBS:
        prefixes = prefix if isinstance(prefix, tuple) else (prefix,)
        k = sum(1 for s in stacks if any(f.startswith(prefixes) for f in s))
        print("  %5.1f%%  %s" % (100.0 * k / n, name))
    print("\nJdbi configuration and mapper resolution (inclusive):")
    for name, needles in JDBI_HOT:
        k = sum(1 for s in stacks if any(f.startswith("org.jdbi.") and any(x in f for x in needles) for f in s))
        print("  %5.1f%%  %s" % (100.0 * k / n, name))
    print("\ntop methods by inclusive samples (outside gRPC's and the JDK's own frames):")
    incl = collections.Counter()
    for s in stacks:
        incl.update(set(f for f in s if not f.startswith(("io.grpc.", "java.", "jdk.", "sun."))))
    for method, k in incl.most_common(25):
        print("  %5.1f%%  %s" % (100.0 * k / n, method))
    print("\ntop methods by self samples:")
    top = collections.Counter(s[0] for s in stacks if s)
    for method, k in top.most_common(15):
        print("  %5.1f%%  %s" % (100.0 * k / n, method))


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    except BrokenPipeError:
        pass
