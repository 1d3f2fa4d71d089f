"""Helpers for the proxy integration tests (tests/proxy/test_*.py).

- Upstream: an HTTP/1.1 origin server of our own (http.server in a thread)
  that echoes each request as JSON and has knobs for the awkward cases.
- Proxy: writes a bootstrap configuration and WasmPlugin manifests into a
  temporary directory, starts `wasmgate run -c FILE` on free loopback
  ports, waits for the admin /ready, and stops it (SIGTERM, then SIGKILL).
- RawClient: a plain socket for sending exact bytes (malformed input,
  pipelining, Expect: 100-continue) and reading responses one by one.

Environment: WASMGATE (the binary), PLUGIN_DIR (C test plugins) and
AS_PLUGIN_DIR (AssemblyScript test plugins), set by ctest; the defaults
suit a run from the repository root after `make build plugins`.

Configurations are written as JSON, which is also YAML.
"""
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WASMGATE = os.environ.get("WASMGATE", "build/wasmgate")
PLUGIN_DIR = os.environ.get("PLUGIN_DIR", "build/plugins")
AS_PLUGIN_DIR = os.environ.get("AS_PLUGIN_DIR", "build/plugins-as")

# How long to wait for the proxy to become ready.
# What AddressSanitizer, LeakSanitizer and UBSan print (the ASan build of
# `make test` runs these tests too).
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer")
START_TIMEOUT = float(os.environ.get("WASMGATE_START_TIMEOUT", "20"))


def plugin_path(name, as_plugin=False):
    """The absolute path of a built test plugin; fails clearly when missing."""
    path = os.path.abspath(os.path.join(AS_PLUGIN_DIR if as_plugin else PLUGIN_DIR,
                                        name + ".wasm"))
    if not os.path.exists(path):
        raise AssertionError(f"{path} is missing: run `make plugins` first")
    return path


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A loopback port with nothing listening (connections are refused)."""
    return free_port()


# ---- the upstream ------------------------------------------------------------------


class _EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "test-upstream"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet
        pass

    # Every method goes through _handle.
    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET

    def _read_body(self):
        """(body, chunked, trailers as [[lower-name, value], ...])."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            body = b""
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    trailers = []
                    while True:
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            return body, True, trailers
                        name, _, value = t.decode("latin-1").partition(":")
                        trailers.append([name.strip().lower(), value.strip()])
                body += self.rfile.read(size)
                self.rfile.readline(3)
        n = int(self.headers.get("Content-Length", "0") or "0")
        return (self.rfile.read(n) if n else b""), False, []

    def _send(self, status, body=b"", headers=(), chunks=None, length=True):
        self.send_response(status)
        self.send_header("x-upstream-name", self.server.name)
        for k, v in headers:
            self.send_header(k, v)
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        if chunks is not None:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                for c in chunks:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
                self.wfile.write(b"0\r\n\r\n")
            return
        if status not in (204, 304) and length:
            self.send_header("Content-Length", str(len(body)))
        if not length:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not no_body and body:
            self.wfile.write(body)

    def _handle(self):
        srv = self.server
        body, chunked, trailers = self._read_body()
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        record = {
            "method": self.command,
            "path": self.path,
            "version": self.request_version,
            "headers": [[k.lower(), v] for k, v in self.headers.items()],
            # large bodies are summarised: length and digest only
            "body": body.decode("latin-1") if len(body) <= 65536 else "",
            "body_len": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "chunked": chunked,
            "trailers": trailers,
            "upstream": srv.name,
        }
        with srv.lock:
            srv.requests.append(record)
        echo = json.dumps(record).encode()
        json_h = [("Content-Type", "application/json")]

        custom = srv.routes.get(url.path)
        if custom is not None:
            status, headers, rbody = custom(record) if callable(custom) else custom
            self._send(status, rbody, headers)
            return
        parts = url.path.split("/")
        if len(parts) == 3 and parts[1] == "status" and parts[2].isdigit():
            status = int(parts[2])
            self._send(status, b"" if status in (204, 304) else echo, json_h)
        elif url.path == "/slow":
            time.sleep(int(query.get("ms", ["1000"])[0]) / 1000.0)
            self._send(200, echo, json_h)
        elif url.path == "/chunked":
            n = max(1, len(echo) // 3)
            self._send(200, headers=json_h,
                       chunks=[echo[i:i + n] for i in range(0, len(echo), n)])
        elif url.path == "/large":
            size = int(query.get("bytes", ["1048576"])[0])
            pattern = b"0123456789abcdef"
            data = (pattern * (size // len(pattern) + 1))[:size]
            self._send(200, data, [("Content-Type", "application/octet-stream")])
        elif url.path == "/close":
            # Close without answering.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        elif url.path == "/headers-only":
            self._send(200, b"", [("x-only", "headers")])
        elif url.path == "/no-length":
            # A body delimited by the end of the connection.
            self._send(200, echo, json_h, length=False)
        else:
            self._send(200, echo, json_h)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the listen backlog (5 by default)

    def handle_error(self, request, client_address):
        # A client (the proxy) that gives up mid-request is expected in
        # these tests: no traceback.
        pass


class Upstream:
    """An echo server on 127.0.0.1 (a free port) in a background thread.

    Responses carry `x-upstream-name: <name>`; the default answer is 200
    with the request as JSON: method, path, version, headers ([name, value]
    pairs, names lower-cased), body, chunked (whether it came chunked).
    Knobs (by path): /status/N, /slow?ms=N, /chunked (chunked response),
    /large?bytes=N, /close (closes without answering), /headers-only
    (Content-Length: 0), /no-length (body until close). HEAD is answered
    like GET without the body. `routes` maps a path to a fixed answer
    (status, [(name, value)], body) or a function of the request record
    returning one. Every request is kept in `requests`.
    """

    def __init__(self, name="up", routes=None):
        self.server = _Server(("127.0.0.1", 0), _EchoHandler)
        self.server.name = name
        self.server.routes = dict(routes or {})
        self.server.requests = []
        self.server.lock = threading.Lock()
        self.port = self.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def requests(self):
        with self.server.lock:
            return list(self.server.requests)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---- the proxy ---------------------------------------------------------------------


def manifest(name, url, namespace="default", phase=None, priority=None,
             fail_strategy=None, config=None, **spec_extra):
    """A WasmPlugin resource as a dict."""
    spec = {"url": url if "://" in url else "file://" + url}
    if phase:
        spec["phase"] = phase
    if priority is not None:
        spec["priority"] = priority
    if fail_strategy:
        spec["failStrategy"] = fail_strategy
    if config is not None:
        spec["pluginConfig"] = config
    spec.update(spec_extra)
    return {"apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def route_to(cluster, prefix="/", exact=None, host=None):
    match = {"exact": exact} if exact else {"prefix": prefix}
    if host:
        match["host"] = host
    return {"match": match, "cluster": cluster}


def direct(status, body, prefix="/", exact=None, host=None):
    match = {"exact": exact} if exact else {"prefix": prefix}
    if host:
        match["host"] = host
    return {"match": match, "direct_response": {"status": status, "body": body}}


class Proxy:
    """A wasmgate process.

    routes: the routes of the listener "main"; clusters: {name: [addresses]}
    or {name: {"endpoints": [...], "response_timeout_ms": ...}};
    plugins: manifests (dicts, see manifest()); limits: the limits section;
    cache_dir: the module cache (default: cache/ in the temporary directory);
    extra: more top-level keys. The bootstrap is config.yaml in a fresh
    temporary directory, the manifests manifests/NN-NAME.yaml, and the
    process output goes to wasmgate.log there; the directory is removed by
    stop() unless WASMGATE_KEEP_TMP is set.
    """

    def __init__(self, routes=None, clusters=None, plugins=(), limits=None, workers=1,
                 extra=None, access_log=False, log_level=None, component_log_level=None,
                 args=(), cache_dir=None):
        self.dir = tempfile.mkdtemp(prefix="wasmgate-test-")
        self.cache_dir = cache_dir or os.path.join(self.dir, "cache")
        self.routes = routes or [direct(200, "hello\n")]
        self.clusters = clusters or {}
        self.plugins = list(plugins)
        self.limits = limits or {}
        self.workers = workers
        self.extra = extra or {}
        self.access_log = access_log
        self.log_level = log_level
        self.component_log_level = component_log_level
        self.args = list(args)
        self.proc = None
        self.port = None
        self.admin_port = None
        self.config_path = os.path.join(self.dir, "config.yaml")
        self.manifests_dir = os.path.join(self.dir, "manifests")
        self.log_path = os.path.join(self.dir, "wasmgate.log")
        self._log = None

    # -- configuration

    def _write(self):
        clusters = []
        for name, c in self.clusters.items():
            if isinstance(c, dict):
                entry = {"name": name}
                entry.update(c)
            else:
                entry = {"name": name, "endpoints": list(c)}
            clusters.append(entry)
        cfg = {
            "admin": {"address": f"127.0.0.1:{self.admin_port}"},
            "workers": self.workers,
            "node": {"id": "test", "namespace": "default", "labels": {"app": "test"}},
            "listeners": [{"name": "main", "address": f"127.0.0.1:{self.port}",
                           "routes": self.routes}],
            "access_log": self.access_log,
        }
        if clusters:
            cfg["clusters"] = clusters
        if self.limits:
            cfg["limits"] = self.limits
        mdir = self.manifests_dir
        os.makedirs(mdir, exist_ok=True)
        for i, m in enumerate(self.plugins):
            with open(os.path.join(mdir, f"{i:02d}-{m['metadata']['name']}.yaml"), "w") as f:
                json.dump(m, f, indent=1)
        cfg["plugins"] = {"manifests": mdir, "cache_dir": self.cache_dir}
        if self.log_level:
            cfg["log_level"] = self.log_level
        if self.component_log_level:
            cfg["component_log_level"] = self.component_log_level
        for key, value in self.extra.items():
            if key == "plugins":  # merged: manifests and cache_dir stay
                cfg["plugins"].update(value)
            else:
                cfg[key] = value
        with open(self.config_path, "w") as f:
            json.dump(cfg, f, indent=1)

    # -- process

    def start(self, attempts=3):
        last = ""
        for _ in range(attempts):
            self.port = free_port()
            self.admin_port = free_port()
            while self.admin_port == self.port:
                self.admin_port = free_port()
            self._write()
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen([WASMGATE, "run", "-c", self.config_path, *self.args],
                                         stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    status, _, _ = admin_get(self.admin_port, "/ready", timeout=1)
                    if status == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.05)
            last = self.log()
            if self.proc.poll() is None:
                self.kill()
                raise AssertionError(f"wasmgate not ready after {START_TIMEOUT}s; log:\n{last}")
            self._log.close()
            if "in use" not in last:  # not a port race: do not retry
                break
        raise AssertionError(f"wasmgate exited with {self.proc.returncode} during start-up; "
                             f"log:\n{last}")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def terminate(self, timeout=15):
        """SIGTERM and wait; returns the exit code (kills after timeout)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"wasmgate did not exit within {timeout}s of SIGTERM; "
                                 f"log:\n{self.log()}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self):
        """SIGTERM, then fails (from the test's cleanup) when a sanitizer
        reported anything during the whole run, exit included (leaks)."""
        report = None
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.kill()
            log = self.log()
            for marker in SANITIZER_MARKERS:
                at = log.find(marker)
                if at >= 0:
                    report = log[max(0, at - 200):at + 4000]
                    break
        finally:
            if self._log:
                self._log.close()
            if not os.environ.get("WASMGATE_KEEP_TMP") and not report:
                shutil.rmtree(self.dir, ignore_errors=True)
        if report:
            raise AssertionError(f"sanitizer report in {self.log_path}:\n{report}")

    # -- live reload

    def write_manifest(self, filename, content, atomic=True):
        """Writes manifests/filename: a dict (one manifest), a list of them
        (documents), or text. atomic: through a temporary file and a rename,
        as kubectl-style tools and careful editors do."""
        if isinstance(content, dict):
            text = json.dumps(content, indent=1)
        elif isinstance(content, list):
            text = "\n---\n".join(json.dumps(m, indent=1) for m in content)
        else:
            text = content
        path = os.path.join(self.manifests_dir, filename)
        if not atomic:
            with open(path, "w") as f:
                f.write(text)
            return
        tmp = os.path.join(self.manifests_dir, "." + filename + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, path)

    def remove_manifest(self, filename):
        os.unlink(os.path.join(self.manifests_dir, filename))

    def snapshot_version(self):
        """(published snapshot version, [version adopted by each worker])."""
        s = self.admin_json("/config_dump")["plugins_snapshot"]
        return s["version"], s["workers"]

    def wait_snapshot(self, after, timeout=15):
        """Waits until a snapshot newer than `after` is published and every
        worker runs it; returns its version."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            version, workers = self.snapshot_version()
            if version > after and all(w == version for w in workers):
                return version
            time.sleep(0.05)
        raise AssertionError(f"no plugins snapshot after {after} within {timeout} s "
                             f"(now {self.snapshot_version()})")

    def plugin_status(self, name, namespace="default"):
        for p in self.admin_json("/plugins"):
            if p["name"] == name and p["namespace"] == namespace:
                return p
        return None

    # -- clients

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method="GET", path="/", body=None, headers=None, timeout=10):
        """One request on a new connection: (status, {lower-name: value}, body bytes).
        Repeated headers are joined with ", "."""
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in _joined(r.getheaders()).items()}, data
        finally:
            c.close()

    def get_json(self, path="/", headers=None, method="GET", body=None):
        status, h, data = self.request(method, path, body=body, headers=headers)
        if status != 200:
            raise AssertionError(f"{method} {path}: status {status}: {data[:500]!r}")
        return json.loads(data)

    def raw(self, timeout=5):
        return RawClient(self.port, timeout)

    def admin(self, path, method="GET", timeout=5):
        return admin_get(self.admin_port, path, method, timeout)

    def admin_json(self, path, method="GET"):
        status, _, body = self.admin(path, method)
        if status != 200:
            raise AssertionError(f"admin {method} {path}: {status} {body[:300]!r}")
        return json.loads(body)


def _joined(pairs):
    out = {}
    for k, v in pairs:
        k = k.lower()
        out[k] = out[k] + ", " + v if k in out else v
    return out


def admin_get(port, path, method="GET", timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def header(headers, name):
    """First value of `name` in an echo record's [[name, value]] list, or None."""
    for k, v in headers:
        if k == name:
            return v
    return None


def header_all(headers, name):
    return [v for k, v in headers if k == name]


# ---- raw client --------------------------------------------------------------------


class Response:
    def __init__(self, version, status, reason, headers, body):
        self.version, self.status, self.reason = version, status, reason
        self.headers = headers  # [(lower-name, value)]
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def __repr__(self):
        return f"<Response {self.version} {self.status} {self.headers} {self.body[:200]!r}>"


class RawClient:
    """A socket to the proxy: send exact bytes, read responses one at a time."""

    def __init__(self, port, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.eof = False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self):
        if self.eof:
            return False
        try:
            d = self.sock.recv(65536)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def _line(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError(f"connection closed in a line; have {self.buf[:200]!r}")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError(f"connection closed in a body ({len(self.buf)} of {n} bytes)")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, method="GET"):
        """The next response (interim 1xx responses are returned too)."""
        line = self._line()
        parts = line.decode("latin-1").split(" ", 2)
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        while True:
            l = self._line()
            if not l:
                break
            k, v = l.decode("latin-1").split(":", 1)
            headers.append((k.strip().lower(), v.strip()))
        h = dict(headers)
        body = b""
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            pass
        elif "chunked" in h.get("transfer-encoding", "").lower():
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._exact(size)
                self._line()
        elif "content-length" in h:
            body = self._exact(int(h["content-length"]))
        else:
            while self._fill():
                pass
            body, self.buf = self.buf, b""
        return Response(version, status, reason, headers, body)

    def read_final(self, method="GET"):
        """The next non-1xx response."""
        while True:
            r = self.read_response(method)
            if r.status >= 200 or r.status == 101:
                return r

    def closed(self, wait=3.0):
        """True when the peer closes the connection within `wait` seconds
        (bytes still buffered are discarded)."""
        self.sock.settimeout(wait)
        deadline = time.monotonic() + wait
        try:
            while time.monotonic() < deadline:
                d = self.sock.recv(65536)
                if not d:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        return False


def raw_exchange(port, data, timeout=5):
    """Sends data on a new connection, half-closes nothing, and returns
    (the first response or None, whether the proxy closed the connection)."""
    with RawClient(port, timeout) as c:
        c.send(data)
        try:
            r = c.read_response()
        except (EOFError, socket.timeout, ConnectionResetError):
            r = None
        return r, c.closed()


class ProxyTestCase(unittest.TestCase):
    """Base class. start_proxy() starts a proxy for one test,
    start_class_proxy() one for the whole class (from setUpClass); both are
    stopped by cleanups. When a test fails, the end of the current proxy's
    log is written to stderr (always with WASMGATE_TEST_LOG=1)."""

    proxy = None

    def start_proxy(self, **kw):
        p = Proxy(**kw)
        self.addCleanup(p.stop)
        p.start()
        self.proxy = p
        return p

    @classmethod
    def start_class_proxy(cls, **kw):
        p = Proxy(**kw)
        cls.addClassCleanup(p.stop)
        p.start()
        cls.proxy = p
        return p

    @classmethod
    def start_class_upstream(cls, name="up", routes=None):
        u = Upstream(name, routes)
        cls.addClassCleanup(u.stop)
        return u

    def tearDown(self):
        failed = False
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is not None:
            failed = any(t is self for t, _ in result.errors + result.failures)
        if self.proxy and (failed or os.environ.get("WASMGATE_TEST_LOG")):
            sys.stderr.write(f"\n--- {self.id()}: wasmgate log ({self.proxy.log_path}) ---\n"
                             f"{self.proxy.log()[-6000:]}\n--- end of log ---\n")

    def start_upstream(self, name="up", routes=None):
        u = Upstream(name, routes)
        self.addCleanup(u.stop)
        return u

    def assertServing(self, proxy=None, path="/"):
        """The proxy still answers a plain request."""
        p = proxy or self.proxy
        status, _, _ = p.request("GET", path)
        self.assertLess(status, 500, "the proxy stopped serving")


def main():
    unittest.main(verbosity=2)
