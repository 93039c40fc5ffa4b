#!/usr/bin/env python3
"""Renders envoy/envoy.yaml (a template) into a runnable Envoy config from CONVENE_EDGE_* variables.

Envoy cannot read environment variables in its config, so deployments and tests render it:

    CONVENE_EDGE_UPSTREAMS=10.0.0.5:9090,10.0.0.6:9090 python3 envoy/render.py -o /etc/envoy/envoy.yaml

Only the Python standard library is used, so it runs wherever Envoy's PyPI wheel runs.
Variables are documented in envoy/README.md and in VARIABLES below.
"""

import argparse
import json
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Built by descriptor.sh from Maven's descriptor set plus google/rpc error details.
DEFAULT_DESCRIPTOR = HERE / "build" / "convene-edge.pb"

# name -> (default, description)
VARIABLES = {
    "CONVENE_EDGE_UPSTREAMS": ("127.0.0.1:9090", "comma-separated host:port of the server replicas"),
    "CONVENE_EDGE_LISTEN_ADDRESS": ("0.0.0.0", "address the edge listener binds"),
    "CONVENE_EDGE_LISTEN_PORT": ("8080", "port of the edge listener (gRPC, gRPC-Web and REST)"),
    "CONVENE_EDGE_ADMIN_ADDRESS": ("127.0.0.1", "address of Envoy's admin interface (keep it private)"),
    "CONVENE_EDGE_ADMIN_PORT": ("9901", "port of Envoy's admin interface"),
    "CONVENE_EDGE_STATS_ADDRESS": ("127.0.0.1", "address of the listener that serves only Envoy's Prometheus stats "
                                   "(/stats/prometheus), for the metrics scraper"),
    "CONVENE_EDGE_STATS_PORT": ("9902", "port of that stats listener (0: any free port)"),
    "CONVENE_EDGE_ALLOWED_ORIGINS": ("", "comma-separated browser origins allowed by CORS; '*' allows any; empty allows none"),
    "CONVENE_EDGE_DESCRIPTOR": (str(DEFAULT_DESCRIPTOR), "descriptor set for REST/JSON transcoding, as built by descriptor.sh"),
    "CONVENE_EDGE_TLS_CERT": ("", "PEM certificate chain; with CONVENE_EDGE_TLS_KEY turns on TLS on the listener"),
    "CONVENE_EDGE_TLS_KEY": ("", "PEM private key for CONVENE_EDGE_TLS_CERT"),
    "CONVENE_EDGE_HEALTH_INTERVAL": ("2s", "interval of the gRPC health checks of each replica; with 2 failures to "
                                     "mark one unhealthy, keep 2 x interval + 1 s below the servers' CONVENE_DRAIN_DELAY"),
    "CONVENE_EDGE_STREAM_IDLE_TIMEOUT": ("3600s", "how long a stream may stay idle before Envoy closes it"),
    "CONVENE_EDGE_MAX_CONNECTIONS": ("10000", "most downstream connections Envoy accepts at once"),
}

DURATION = re.compile(r"^[0-9]+(\.[0-9]+)?s$")
HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>[0-9]{1,5})$")


class ConfigError(Exception):
    pass


def quote(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value)


def port(name: str, value: str) -> str:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigError(f"{name} must be a TCP port, got {value!r}")
    return value


def count(name: str, value: str) -> str:
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def duration(name: str, value: str) -> str:
    if not DURATION.match(value):
        raise ConfigError(f"{name} must be a duration in seconds like '5s', got {value!r}")
    return value


def upstream_endpoints(value: str) -> list:
    lines = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        match = HOST_PORT.match(item)
        if not match:
            raise ConfigError(f"CONVENE_EDGE_UPSTREAMS entries must be host:port, got {item!r}")
        host = match.group("host").strip("[]")
        lines += [
            "- endpoint:",
            "    address:",
            f"      socket_address: {{ address: {quote(host)}, port_value: {port('CONVENE_EDGE_UPSTREAMS', match.group('port'))} }}",
        ]
    if not lines:
        raise ConfigError("CONVENE_EDGE_UPSTREAMS names no replica")
    return lines


def allowed_origins(value: str) -> list:
    origins = [part.strip() for part in value.split(",") if part.strip()]
    if not origins:
        # Valid and explicit: no cross-origin browser may call.
        return ["[]"]
    lines = []
    for origin in origins:
        if origin == "*":
            lines.append('- safe_regex: { regex: ".*" }')
        elif re.match(r"^https?://[^/\s]+$", origin):
            lines.append(f"- exact: {quote(origin)}")
        else:
            raise ConfigError(f"CONVENE_EDGE_ALLOWED_ORIGINS entries must look like https://host[:port] or '*', got {origin!r}")
    return lines


def tls_block(cert: str, key: str) -> list:
    if bool(cert) != bool(key):
        raise ConfigError("set both CONVENE_EDGE_TLS_CERT and CONVENE_EDGE_TLS_KEY, or neither")
    if not cert:
        return []
    return [
        "transport_socket:",
        "  name: envoy.transport_sockets.tls",
        "  typed_config:",
        '    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        "    common_tls_context:",
        '      alpn_protocols: ["h2", "http/1.1"]',
        "      tls_certificates:",
        f"      - certificate_chain: {{ filename: {quote(str(Path(cert).resolve()))} }}",
        f"        private_key: {{ filename: {quote(str(Path(key).resolve()))} }}",
    ]


def values(env) -> dict:
    get = lambda name: env.get(name, VARIABLES[name][0]).strip() or VARIABLES[name][0]
    return {
        "UPSTREAM_ENDPOINTS": upstream_endpoints(get("CONVENE_EDGE_UPSTREAMS")),
        "LISTEN_ADDRESS": quote(get("CONVENE_EDGE_LISTEN_ADDRESS")),
        "LISTEN_PORT": port("CONVENE_EDGE_LISTEN_PORT", get("CONVENE_EDGE_LISTEN_PORT")),
        "ADMIN_ADDRESS": quote(get("CONVENE_EDGE_ADMIN_ADDRESS")),
        "ADMIN_PORT": port("CONVENE_EDGE_ADMIN_PORT", get("CONVENE_EDGE_ADMIN_PORT")),
        "STATS_ADDRESS": quote(get("CONVENE_EDGE_STATS_ADDRESS")),
        "STATS_PORT": "0" if get("CONVENE_EDGE_STATS_PORT") == "0" else port("CONVENE_EDGE_STATS_PORT", get("CONVENE_EDGE_STATS_PORT")),
        "ALLOWED_ORIGINS": allowed_origins(env.get("CONVENE_EDGE_ALLOWED_ORIGINS", "")),
        "DESCRIPTOR": quote(str(Path(get("CONVENE_EDGE_DESCRIPTOR")).resolve())),
        "TLS_TRANSPORT_SOCKET": tls_block(env.get("CONVENE_EDGE_TLS_CERT", "").strip(), env.get("CONVENE_EDGE_TLS_KEY", "").strip()),
        "HEALTH_INTERVAL": duration("CONVENE_EDGE_HEALTH_INTERVAL", get("CONVENE_EDGE_HEALTH_INTERVAL")),
        "STREAM_IDLE_TIMEOUT": duration("CONVENE_EDGE_STREAM_IDLE_TIMEOUT", get("CONVENE_EDGE_STREAM_IDLE_TIMEOUT")),
        "MAX_CONNECTIONS": count("CONVENE_EDGE_MAX_CONNECTIONS", get("CONVENE_EDGE_MAX_CONNECTIONS")),
    }


def render(template: str, vals: dict) -> str:
    out = []
    for line in template.splitlines():
        if line.lstrip().startswith("#"):
            out.append(line)  # comments may mention markers
            continue
        block = re.fullmatch(r"(\s*)\{\{(\w+)\}\}\s*", line)
        if block and isinstance(vals.get(block.group(2)), list):
            indent = block.group(1)
            out += [indent + item for item in vals[block.group(2)]]
            continue

        def scalar(match):
            name = match.group(1)
            if name not in vals or isinstance(vals[name], list):
                raise ConfigError(f"template marker {{{{{name}}}}} has no scalar value")
            return vals[name]

        out.append(re.sub(r"\{\{(\w+)\}\}", scalar, line))
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-t", "--template", default=str(HERE / "envoy.yaml"), help="template (default: envoy/envoy.yaml)")
    parser.add_argument("-o", "--output", default="-", help="output file, '-' for stdout (default)")
    parser.add_argument("--check-files", action="store_true", help="fail if the descriptor or TLS files are missing")
    parser.add_argument("--list-variables", action="store_true", help="print the variables with defaults and exit")
    args = parser.parse_args(argv)

    if args.list_variables:
        for name, (default, description) in VARIABLES.items():
            print(f"{name}={default}\n    {description}")
        return 0
    try:
        vals = values(os.environ)
        if args.check_files:
            for name in ("CONVENE_EDGE_DESCRIPTOR", "CONVENE_EDGE_TLS_CERT", "CONVENE_EDGE_TLS_KEY"):
                path = os.environ.get(name, VARIABLES[name][0]).strip() or VARIABLES[name][0]
                if path and not Path(path).is_file():
                    raise ConfigError(f"{name}: no such file {path}")
        text = render(Path(args.template).read_text(encoding="utf-8"), vals)
    except ConfigError as error:
        print(f"render.py: {error}", file=sys.stderr)
        return 2
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
