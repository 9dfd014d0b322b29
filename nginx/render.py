"""Render the gateway's nginx configuration from the template and the environment.

    python nginx/render.py --output run/nginx.conf --run-dir run --log-dir logs   # make run
    python nginx/render.py --output /etc/nginx/nginx.conf --listen 0.0.0.0 ...    # container

Reads the same settings as the rest of the stack (GATEWAY_PORT, TTS_SERVICE_URL,
ASR_SERVICE_URL, REALTIME_SERVICE_URL, ORCHESTRATOR_URL, REQUEST_TIMEOUT, MAX_AUDIO_DURATION,
TTS_READER_GRACE_SECONDS, GATEWAY_STATUS_PORT, GATEWAY_METRICS_ALLOW),
and GATEWAY_RESOLVER:
a DNS server (Swarm's is 127.0.0.11) that makes the gateway resolve the services' names again
as replicas come and go, instead of once at start. Standard library only, so the gateway image
needs nothing but Python, nginx and the files it serves: the page at "/" (web/), the API's
description and reference page (docs/), and Swagger UI's script and style sheet from the package
in nginx/requirements.txt.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import math
import os
import pwd
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

TEMPLATE = Path(__file__).with_name("gateway.conf.template")
# docs/openapi.json and the reference page docs/reference/, served as they are in the repository.
DOCS_DIR = TEMPLATE.parent.parent / "docs"
# The page at "/" (web/): HTML, CSS and JavaScript modules, served as they are.
WEB_DIR = TEMPLATE.parent.parent / "web"
# The package shipping Swagger UI's files (nginx/requirements.txt); only its static files are
# served, its Python code is never run.
SWAGGER_UI_PACKAGE = "swagger_ui"
PLACEHOLDER = re.compile(r"\$\{(GATEWAY_[A-Z0-9_]+)\}")
# The largest upload the ASR service can be sent: 48 kHz, 2 channels, 4-byte samples, plus room
# for a WAV header.
LARGEST_BYTES_PER_SECOND = 48000 * 2 * 4
WAV_HEADER_ROOM = 64 * 1024


# Where Debian's package (libnginx-mod-http-js) and nginx.org's (nginx-module-njs) put it.
JS_MODULE_PATHS = (
    Path("/usr/lib/nginx/modules/ngx_http_js_module.so"),
    Path("/usr/lib64/nginx/modules/ngx_http_js_module.so"),
    Path("/etc/nginx/modules/ngx_http_js_module.so"),
)


def js_module() -> str:
    for path in JS_MODULE_PATHS:
        if path.is_file():
            return str(path)
    raise SystemExit(
        "the gateway needs nginx's JavaScript module (njs): install it "
        "(Debian: 'sudo apt-get install libnginx-mod-http-js'; `make run` does as root)"
    )


def swagger_ui_dir() -> str:
    """Where Swagger UI's script and style sheet are installed (found, not imported)."""
    spec = importlib.util.find_spec(SWAGGER_UI_PACKAGE)
    if spec is None or spec.origin is None:
        raise SystemExit(
            "the gateway's reference page needs Swagger UI's files: "
            "pip install --no-deps -r nginx/requirements.txt (`make run` does)"
        )
    return str(Path(spec.origin).parent / "static")


def worker_user() -> str:
    """The `user` directive: nginx's workers run as the user who starts the gateway.

    Started by root, nginx drops its workers to "nobody", who cannot read the API's reference
    nor write the temp files of a checkout in a private directory (a root's home is 0700):
    `/docs/` answered 403 and a large body 500. The services of `make run` already run as that
    user, so the workers gain nothing the stack did not have. Started by anyone else (as in the
    image), the workers are the master's user anyway and the directive would only be warned about.
    """
    if os.geteuid() != 0:
        return ""
    return f"user {pwd.getpwuid(os.geteuid()).pw_name};"


def setting(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def address(url: str) -> str:
    """host:port of a service URL, for an nginx upstream block."""
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        raise SystemExit(f"expected a URL like http://host:port, got {url!r}")
    return f"{parts.hostname}:{parts.port}"


# Keep-alive connections per service. Idle ones are dropped before the service drops them (its
# keep-alive is 5 s): a connection the service has just closed would otherwise be reused and
# reset, and the request answered 502. A WebSocket's connection is never reused (it ends with its
# session), so the realtime service keeps only a few, for plain requests.
KEEPALIVE = {"tts": 16, "asr": 16, "realtime": 2, "orchestrator": 8}
KEEPALIVE_TIMEOUT = "4s"


def upstreams(addresses: dict[str, str], resolver: str) -> tuple[str, dict[str, str]]:
    """The nginx text that says how services are reached, and the target each proxy_pass names.

    Without a resolver: an upstream group per service, named after it, with keep-alive
    connections; nginx resolves its address once, at start. With one: no groups; proxy_pass
    names host:port, which nginx resolves through the resolver (for a second at most) and
    spreads over every address the name has, trying the next when one refuses.
    """
    if resolver:
        text = f"    resolver {resolver} valid=1s ipv6=off;\n    resolver_timeout 2s;\n"
        return text, dict(addresses)
    blocks = [
        f"    upstream {name} {{\n        server {address};\n        keepalive {KEEPALIVE[name]};\n"
        f"        keepalive_timeout {KEEPALIVE_TIMEOUT};\n    }}\n"
        for name, address in addresses.items()
    ]
    return "".join(blocks), {name: name for name in addresses}


def values(args: argparse.Namespace) -> dict[str, str]:
    max_seconds = int(setting("MAX_AUDIO_DURATION", "15"))
    temp_dir = Path(args.run_dir) / "nginx-temp"
    log_dir = Path(args.log_dir)
    addresses = {
        "tts": address(setting("TTS_SERVICE_URL", "http://127.0.0.1:8082")),
        "asr": address(setting("ASR_SERVICE_URL", "http://127.0.0.1:8081")),
        "realtime": address(setting("REALTIME_SERVICE_URL", "http://127.0.0.1:8084")),
        "orchestrator": address(setting("ORCHESTRATOR_URL", "http://127.0.0.1:8083")),
    }
    upstream_text, targets = upstreams(addresses, setting("GATEWAY_RESOLVER", ""))
    return {
        "GATEWAY_LISTEN": f"{args.listen}:{int(setting('GATEWAY_PORT', '8000'))}",
        "GATEWAY_STATUS_LISTEN": f"{args.listen}:{int(setting('GATEWAY_STATUS_PORT', DEFAULT_STATUS_PORT))}",
        "GATEWAY_METRICS_LOCATION": metrics_location(setting("GATEWAY_METRICS_ALLOW", "")),
        "GATEWAY_USER": worker_user(),
        "GATEWAY_PID_FILE": str(Path(args.run_dir) / "nginx.pid"),
        "GATEWAY_ERROR_LOG": args.error_log or str(log_dir / "gateway.error.log"),
        "GATEWAY_ERROR_LOG_COPY": str(log_dir / "gateway.error.log") if args.error_log else "/dev/null",
        "GATEWAY_ACCESS_LOG": args.access_log or str(log_dir / "gateway.access.log"),
        "GATEWAY_ACCESS_LOG_COPY": str(log_dir / "gateway.access.log") if args.access_log else "/dev/null",
        "GATEWAY_MIME_TYPES": args.mime_types,
        "GATEWAY_JS_MODULE": js_module(),
        "GATEWAY_NGINX_DIR": str(TEMPLATE.parent.resolve()),
        "GATEWAY_DOCS_DIR": str(DOCS_DIR.resolve()),
        "GATEWAY_WEB_DIR": str(WEB_DIR.resolve()),
        "GATEWAY_SWAGGER_UI_DIR": swagger_ui_dir(),
        "GATEWAY_TEMP_DIR": str(temp_dir),
        "GATEWAY_UPSTREAMS": upstream_text,
        "GATEWAY_TTS_TARGET": targets["tts"],
        "GATEWAY_ASR_TARGET": targets["asr"],
        "GATEWAY_REALTIME_TARGET": targets["realtime"],
        "GATEWAY_ORCHESTRATOR_TARGET": targets["orchestrator"],
        "GATEWAY_REQUEST_TIMEOUT": str(int(setting("REQUEST_TIMEOUT", "60"))),
        "GATEWAY_TTS_SEND_TIMEOUT": str(math.ceil(float(setting("TTS_READER_GRACE_SECONDS", "10")))),
        "GATEWAY_MAX_AUDIO_SECONDS": str(max_seconds),
        "GATEWAY_MAX_AUDIO_BODY": str(max_seconds * LARGEST_BYTES_PER_SECOND + WAV_HEADER_ROOM),
    }


# The services whose metrics the gateway can pass on (/metrics/<service>).
METRICS_SERVICES = ("tts", "asr", "realtime", "orchestrator")
# nginx's counters (stub_status), for the orchestrator's /metrics, on a port never published.
DEFAULT_STATUS_PORT = "8079"


def metrics_location(allowed: str) -> str:
    """The gateway's /metrics/<service> locations, open to the addresses or networks in
    `allowed` (GATEWAY_METRICS_ALLOW: separated by spaces or commas, or "all"); none when it
    is empty. Each entry is checked here: nothing but an address reaches the configuration."""
    entries = allowed.replace(",", " ").split()
    if not entries:
        return ""
    if entries == ["all"]:
        rules = ["allow all;"]
    else:
        try:
            rules = [f"allow {ipaddress.ip_network(entry, strict=False)};" for entry in entries]
        except ValueError as error:
            raise SystemExit(f"GATEWAY_METRICS_ALLOW: {error}; give addresses or networks, or 'all'") from None
        rules.append("deny all;")
    access = "".join(f"            {rule}\n" for rule in rules)
    return "".join(
        f"        location = /metrics/{service} {{\n"
        f"{access}"
        "            error_page 403 = @not_found;\n"
        f"            proxy_pass http://${service}_service/metrics;\n"
        "        }\n"
        for service in METRICS_SERVICES
    )


def render(template: str, filled: dict[str, str]) -> str:
    missing = sorted(set(PLACEHOLDER.findall(template)) - set(filled))
    if missing:
        raise SystemExit(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: filled[match.group(1)], template)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--listen", default="127.0.0.1", help="address to listen on (port: GATEWAY_PORT)")
    parser.add_argument("--run-dir", default="run", help="pid file and temp files")
    parser.add_argument("--log-dir", default="logs")
    parser.add_argument("--error-log", default="", help="primary error log (default: a file in --log-dir)")
    parser.add_argument("--access-log", default="", help="primary access log (default: a file in --log-dir)")
    parser.add_argument("--mime-types", default="/etc/nginx/mime.types")
    args = parser.parse_args()

    filled = values(args)
    for directory in (Path(filled["GATEWAY_TEMP_DIR"]), Path(args.log_dir), args.output.parent):
        directory.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(TEMPLATE.read_text(), filled))
    return 0


if __name__ == "__main__":
    sys.exit(main())
