#!/usr/bin/env python3
"""Summarises the CPU samples of a JFR recording: where the server's time goes, by library.

Usage: jfr-summary.py recording.jfr
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
JDBI_HOT = ["ConfigRegistry", "ColumnMappers", "QualifiedColumnMapperFactory", "ConstructorMapper",
            "SqlObjectFactory", "ExtensionFactory", "attach"]


def main(path):
    out = subprocess.run(["jfr", "print", "--json", "--stack-depth", "256", "--events", "jdk.ExecutionSample", path],
                         check=True, capture_output=True, text=True).stdout
    events = json.loads(out)["recording"]["events"]
    stacks = []
    for e in events:
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
    for hot in JDBI_HOT:
        k = sum(1 for s in stacks if any(f.startswith("org.jdbi.") and hot in f for f in s))
        print("  %5.1f%%  %s" % (100.0 * k / n, hot))
    print("\ntop methods by self samples:")
    top = collections.Counter(s[0] for s in stacks if s)
    for method, k in top.most_common(15):
        print("  %5.1f%%  %s" % (100.0 * k / n, method))


if __name__ == "__main__":
    main(sys.argv[1])
