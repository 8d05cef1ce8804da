"""The cluster's router in front of a booted gateway: Debian's nginx, configured the way
ingress-nginx configures itself for the built Ingress, in the gateway's network namespace.

What it reproduces, from the built objects:
- TLS for the Ingress host, with a certificate made for this run (the browser trusts exactly
  that certificate, by its key's hash, and nothing else);
- the router's public ports: 443 and every `moltgen.dev/public-ports` port (the seed's
  NodePort 32045). On a cluster a NodePort is translated to the controller's 443 before nginx
  sees it, so every listener here sends `X-Forwarded-Port: 443`, as the controller would;
- the headers ingress-nginx sets (Host as the browser sent it, X-Forwarded-For/-Host/-Port/
  -Proto, X-Real-IP, Upgrade and Connection for WebSockets) and the Ingress's
  proxy-read/send-timeout annotations;
- the addresses: the browser reaches the node's address (the Ingress host's IP), the router
  connects to the pod from an address of the pod network (`proxy_bind`), and the gateway's
  own address is another one. The three are added to the namespace's loopback device, the
  only device there; ROUTER and NODE are printed by the test as its loopback stand-ins.

What it cannot emulate: kube-proxy's NodePort translation (nginx listens on each port itself),
the controller's Lua balancer and its other defaults (buffering, body size), and the
NetworkPolicy (nothing else runs in the namespace).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .pod import stop_group

# Loopback stand-ins inside the gateway's namespace. ROUTER lies in this repository's pod
# network (10.233.64.0/18, its trustedProxies) as an ingress-nginx pod would; the node's
# address is the Ingress host's (172.31.19.4.nip.io), outside trustedProxies, as a client is.
# Not 127.0.0.1: 2026.9.6 refuses a forwarded client on loopback (proxy_attribution_required).
ROUTER = "10.233.64.1"
GATEWAY = "10.233.64.2"
NIP_IO = re.compile(r"^(?:.*\.)?(\d+\.\d+\.\d+\.\d+)\.nip\.io$")
# A port the router also serves that no user is told of: the gateway must refuse its origin
# (the Control UI's origin check includes the port).
UNLISTED_PORT = 30443
READY_TIMEOUT = 30


def node_address(host: str) -> str:
    """The address a host of nip.io resolves to (the name holds it), else a documentation one."""
    match = NIP_IO.match(host)
    return match.group(1) if match else "192.0.2.10"


@dataclass
class Route:
    """What the router serves, read from the built Ingress and Service."""

    host: str
    ports: list[int]  # the public ports users' browsers send (443 first)
    backend_port: int  # the container port the Service's targetPort names
    read_timeout: str
    send_timeout: str

    @classmethod
    def of(cls, objects: list[dict[str, Any]], container: dict[str, Any]) -> Route:
        ingress = next(o for o in objects if o["kind"] == "Ingress")
        annotations = ingress["metadata"].get("annotations") or {}
        rule = ingress["spec"]["rules"][0]
        backend = rule["http"]["paths"][0]["backend"]["service"]
        service = next(o for o in objects if o["kind"] == "Service"
                       and o["metadata"]["name"] == backend["name"])
        port = next(p for p in service["spec"]["ports"]
                    if p.get("number", p["port"]) == backend["port"].get("number")
                    or p.get("name") == backend["port"].get("name"))
        target = port.get("targetPort", port["port"])
        if isinstance(target, str):
            target = next(p["containerPort"] for p in container["ports"] if p.get("name") == target)
        public = [int(p) for p in str(annotations.get("moltgen.dev/public-ports", "")).split(",") if p]
        return cls(rule["host"], [443, *public], int(target),
                   annotations.get("nginx.ingress.kubernetes.io/proxy-read-timeout", "60"),
                   annotations.get("nginx.ingress.kubernetes.io/proxy-send-timeout", "60"))

    def origins(self) -> list[str]:
        return [f"https://{self.host}" if port == 443 else f"https://{self.host}:{port}"
                for port in self.ports]


def certificate(directory: Path, host: str) -> str:
    """A self-signed certificate for `host` (openssl); returns the base64 SHA-256 of its public
    key, which Chromium is told to accept (--ignore-certificate-errors-spki-list) in place of
    a CA the cluster's issuer would be."""
    key, cert = directory / "tls.key", directory / "tls.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}"],
                   check=True, capture_output=True, timeout=60)
    public = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"],
                            check=True, capture_output=True, timeout=60).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=public,
                         check=True, capture_output=True, timeout=60).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def nginx_config(directory: Path, route: Route, node: str) -> str:
    listens = "\n".join(f"    listen {node}:{port} ssl;" for port in [*route.ports, UNLISTED_PORT])
    temp = "\n".join(f"  {kind}_temp_path {directory / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""daemon off;
user root;
worker_processes 1;
pid {directory / 'nginx.pid'};
error_log {directory / 'error.log'} info;
events {{ worker_connections 256; }}
http {{
  access_log {directory / 'access.log'};
{temp}
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  server {{
{listens}
    server_name {route.host};
    ssl_certificate {directory / 'tls.crt'};
    ssl_certificate_key {directory / 'tls.key'};
    location / {{
      proxy_pass http://{GATEWAY}:{route.backend_port};
      proxy_bind {ROUTER};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header X-Request-ID $request_id;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Port 443;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Scheme https;
      proxy_set_header X-Scheme https;
      proxy_set_header X-Original-URI $request_uri;
      proxy_read_timeout {route.read_timeout}s;
      proxy_send_timeout {route.send_timeout}s;
    }}
  }}
}}
"""


@dataclass
class Router:
    """nginx serving `route` inside the network namespace of process `pid`."""

    route: Route
    pid: int
    directory: Path
    process: subprocess.Popen | None = None
    spki: str = ""

    @property
    def node(self) -> str:
        return node_address(self.route.host)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.directory / kind).mkdir(exist_ok=True)
        self.spki = certificate(self.directory, self.route.host)
        config = self.directory / "nginx.conf"
        config.write_text(nginx_config(self.directory, self.route, self.node))
        addresses = " && ".join(f"ip addr add {ipaddress.ip_address(a)}/32 dev lo"
                                for a in (self.node, ROUTER, GATEWAY))
        script = f"{addresses} && exec nginx -c {shlex.quote(str(config))} -e {shlex.quote(str(self.directory / 'error.log'))}"
        with open(self.directory / "stderr", "wb") as stderr:  # the child keeps its own copy
            self.process = subprocess.Popen(
                ["nsenter", "--target", str(self.pid), "--net", "sh", "-c", script],
                stdout=subprocess.DEVNULL, stderr=stderr, stdin=subprocess.DEVNULL,
                start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if (self.directory / "nginx.pid").is_file():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError("nginx did not start: " + self.log())

    def log(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-3000:]
                         for path in (self.directory / "stderr", self.directory / "error.log")
                         if path.is_file())

    def stop(self) -> None:
        stop_group(self.process, signal.SIGQUIT, 10)  # QUIT: nginx's graceful stop
