#!/usr/bin/env python3
"""A small HTTP server for tests/unit/test_fetch.c.

Usage: server.py DIR. Listens on an ephemeral loopback port and prints the
port number on the first line of stdout. When DIR holds cert.pem and key.pem
it also serves HTTPS on a second port, printed after the first (same line).
Endpoints:

  /f/NAME                   the file DIR/NAME
  /gzip/NAME                DIR/NAME, gzip-compressed
  /tar/NAME                 a ustar archive holding README.txt and DIR/NAME
  /tgz/NAME                 the same archive, gzip-compressed
  /status/CODE?key=K&times=N
                            CODE for the first N requests with key K (all of
                            them without times), then 200 with a tiny module
  /count/K                  how many /status requests key K has seen
  /redirect/N/NAME          N redirects, then /f/NAME
  /slow                     answers only after 10 s
  /large/N[?stream=1]       N bytes starting with "\\0asm"; with stream=1
                            there is no Content-Length (body ends at close)
  /v2/...                   a registry that answers badly, one repository
                            per fault (see BAD_REPOSITORIES); any tag
"""
import gzip
import hashlib
import io
import json
import os
import ssl
import sys
import tarfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODULE = b"\0asm\x01\0\0\0"
ROOT = sys.argv[1]
counts = {}
lock = threading.Lock()


# ---- a misbehaving OCI registry -------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
WASM_LAYER = "application/vnd.module.wasm.content.layer.v1+wasm"
BLOBS = {}  # sha256 hex -> bytes


def blob(data):
    h = hashlib.sha256(data).hexdigest()
    BLOBS[h] = data
    return {"digest": "sha256:" + h, "size": len(data)}


def manifest(layers, media_type=OCI_MANIFEST):
    config = blob(b"{}")
    config["mediaType"] = "application/vnd.module.wasm.config.v1+json"
    return {"schemaVersion": 2, "mediaType": media_type, "config": config, "layers": layers}


def layer(data, media_type=WASM_LAYER):
    d = blob(data)
    d["mediaType"] = media_type
    return d


def as_child(doc, media_type, **extra):
    data = json.dumps(doc).encode()
    d = blob(data)
    d["mediaType"] = media_type
    d.update(extra)
    return d


GOOD = manifest([layer(MODULE)])
NESTED_CHILD = {"schemaVersion": 2, "mediaType": OCI_INDEX,
                "manifests": [as_child(GOOD, OCI_MANIFEST)]}
LIAR = as_child(GOOD, OCI_MANIFEST)
LIAR["size"] += 1  # the entry's size does not match the child's
LIAR_DIGEST = LIAR["digest"]
BAD_REPOSITORIES = {
    # repository: (content type, manifest body)
    "badjson": (OCI_MANIFEST, b"{not json"),
    "html": ("text/html", b"<html><body>Welcome to nginx!</body></html>"),
    "nolayers": (OCI_MANIFEST, json.dumps(manifest([])).encode()),
    "notwasmimage": (OCI_MANIFEST, json.dumps(manifest(
        [layer(b"plain bytes", "application/octet-stream")])).encode()),
    "notwasmlayer": (OCI_MANIFEST, json.dumps(manifest(
        [layer(b"<html>not a module</html>")])).encode()),
    "nodigest": (OCI_MANIFEST, json.dumps(manifest(
        [{"mediaType": WASM_LAYER, "size": 8}])).encode()),
    "emptyindex": (OCI_INDEX, json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()),
    "nestedindex": (OCI_INDEX, json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX,
         "manifests": [as_child(NESTED_CHILD, OCI_INDEX)]}).encode()),
    "indexsize": (OCI_INDEX, json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [LIAR]}).encode()),
    "hugemanifest": (OCI_MANIFEST, b'{"pad":"' + b"x" * (5 << 20) + b'"}'),
}


def make_tar(name, data):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member, body in (("README.txt", b"not a module\n"), ("dist/" + name, data)):
            info = tarfile.TarInfo(member)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body, length=True, headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read(self, name):
        path = os.path.join(ROOT, os.path.basename(name))
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            return None

    def registry(self, parts):
        """/v2/, /v2/REPO/manifests/REF and /v2/REPO/blobs/sha256:HEX."""
        if len(parts) == 1:
            return self.send(200, b"{}", headers=[("Content-Type", "application/json")])
        if len(parts) == 4 and parts[2] == "blobs" and parts[3].startswith("sha256:"):
            data = BLOBS.get(parts[3][7:])
            if data is None:
                return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
            return self.send(200, data)
        if len(parts) == 4 and parts[2] == "manifests":
            repo, ref = parts[1], parts[3]
            if ref.startswith("sha256:") and ref[7:] in BLOBS:
                data = BLOBS[ref[7:]]
                mt = json.loads(data).get("mediaType", OCI_MANIFEST)
                return self.send(200, data, headers=[("Content-Type", mt)])
            if repo in BAD_REPOSITORIES:
                ctype, body = BAD_REPOSITORIES[repo]
                return self.send(200, body, headers=[("Content-Type", ctype)])
        return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        parts = url.path.strip("/").split("/")
        kind, args = parts[0], parts[1:]
        if kind == "v2":
            return self.registry(parts)
        if kind in ("f", "gzip", "tar", "tgz") and args:
            data = self.read(args[-1])
            if data is None:
                return self.send(404, b"not found\n")
            if kind in ("tar", "tgz"):
                data = make_tar(os.path.basename(args[-1]), data)
            if kind in ("gzip", "tgz"):
                data = gzip.compress(data)
            return self.send(200, data)
        if kind == "status" and args:
            key = query.get("key", "")
            with lock:
                counts[key] = counts.get(key, 0) + 1
                n = counts[key]
            times = int(query["times"]) if "times" in query else None
            if times is None or n <= times:
                return self.send(int(args[0]), b"failing\n")
            return self.send(200, MODULE)
        if kind == "count" and args:
            with lock:
                return self.send(200, str(counts.get(args[0], 0)).encode())
        if kind == "redirect" and len(args) == 2:
            n = int(args[0])
            to = "/f/" + args[1] if n <= 1 else "/redirect/%d/%s" % (n - 1, args[1])
            return self.send(302, b"", headers=[("Location", to)])
        if kind == "slow":
            time.sleep(10)
            return self.send(200, MODULE)
        if kind == "truncated":
            # Promises more than it sends, then closes: a cut-off download.
            self.send_response(200)
            self.send_header("Content-Length", str(len(MODULE) + 1000))
            self.end_headers()
            self.wfile.write(MODULE)
            self.wfile.flush()
            self.close_connection = True
            return None
        if kind == "large" and args:
            n = int(args[0])
            body = MODULE + b"\0" * (n - len(MODULE))
            return self.send(200, body, length=query.get("stream") != "1")
        return self.send(404, b"unknown endpoint\n")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ports = [str(server.server_address[1])]
    cert, key = os.path.join(ROOT, "cert.pem"), os.path.join(ROOT, "key.pem")
    if os.path.exists(cert) and os.path.exists(key):
        tls = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        tls.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
        ports.append(str(tls.server_address[1]))
        threading.Thread(target=tls.serve_forever, daemon=True).start()
    print(" ".join(ports), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
