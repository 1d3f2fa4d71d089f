#!/usr/bin/env python3
"""The admin server (/ready, /stats/prometheus, /config_dump, /plugins,
/logging), the proxy's metrics, draining on SIGTERM, and `wasmgate run`
itself (arguments, configuration errors)."""
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (WASMGATE, Proxy, ProxyTestCase, RawClient, closed_port, direct,  # noqa: E402
                     main, manifest, plugin_path, route_to)


def metric_value(text, name, labels=None):
    """The value of one sample in a Prometheus exposition, or None."""
    want = "{" + labels + "}" if labels else ""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        if m and m.group(1) == name and (m.group(2) or "") == want:
            return float(m.group(3))
    return None


class Admin(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = cls.start_class_upstream("up")
        cls.start_class_proxy(
            routes=[direct(404, "nope\n", exact="/missing"), route_to("down", prefix="/down"),
                    route_to("up")],
            clusters={"up": [cls.up.address], "down": [f"127.0.0.1:{closed_port()}"]},
            plugins=[
                manifest("metrics", plugin_path("metrics"), phase="STATS", priority=3),
                manifest("broken", "/nonexistent/broken.wasm", fail_strategy="FAIL_OPEN",
                         namespace="default"),
            ])

    def prometheus(self):
        status, h, body = self.proxy.admin("/stats/prometheus")
        self.assertEqual(status, 200)
        self.assertTrue(h.get("content-type", "").startswith("text/plain; version=0.0.4"), h)
        return body.decode()

    def test_ready(self):
        status, h, body = self.proxy.admin("/ready")
        self.assertEqual((status, body), (200, b"LIVE\n"))
        self.assertEqual(h.get("connection"), "close")

    def test_head_ready(self):
        status, h, body = self.proxy.admin("/ready", method="HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(h.get("content-length"), "5")

    def test_prometheus_proxy_metrics(self):
        before = self.prometheus()
        for _ in range(3):
            self.assertEqual(self.proxy.request("GET", "/m")[0], 200)
        self.assertEqual(self.proxy.request("GET", "/missing")[0], 404)
        self.assertEqual(self.proxy.request("GET", "/down")[0], 503)
        with RawClient(self.proxy.port) as c:
            c.send(b"GET / HTTP/1.1\nHost: x\n\n")
            c.closed()
        text = self.prometheus()

        def delta(name, labels=None):
            return (metric_value(text, name, labels) or 0) - (metric_value(before, name, labels)
                                                              or 0)

        self.assertGreaterEqual(delta("wasmgate_http_requests_total", 'code_class="2xx"'), 3)
        self.assertGreaterEqual(delta("wasmgate_http_requests_total", 'code_class="4xx"'), 2)
        self.assertGreaterEqual(delta("wasmgate_http_requests_total", 'code_class="5xx"'), 1)
        self.assertIsNotNone(metric_value(text, "wasmgate_http_requests_total",
                                          'code_class="1xx"'))
        self.assertIsNotNone(metric_value(text, "wasmgate_http_requests_total",
                                          'code_class="other"'))
        self.assertGreaterEqual(delta("wasmgate_upstream_errors_total", 'kind="connect"'), 1)
        self.assertGreaterEqual(delta("wasmgate_bad_requests_total"), 1)
        self.assertGreaterEqual(delta("wasmgate_downstream_connections_total"), 6)
        self.assertIsNotNone(metric_value(text, "wasmgate_downstream_connections_active"))
        self.assertIsNotNone(metric_value(text, "wasmgate_local_replies_total"))
        self.assertIn("# TYPE wasmgate_http_requests_total counter", text)
        self.assertIn("# TYPE wasmgate_downstream_connections_active gauge", text)
        self.assertIn("# HELP wasmgate_http_requests_total ", text)

    def test_prometheus_plugin_metrics(self):
        for _ in range(2):
            self.assertEqual(self.proxy.request("GET", "/p")[0], 200)
        text = self.prometheus()
        # Under the names the plugin defined them with ('.' exposed as '_').
        self.assertGreaterEqual(metric_value(text, "wasmgate_test_requests_total") or 0, 2)
        self.assertIsNotNone(metric_value(text, "my_plugin_active"))
        self.assertEqual(metric_value(text, "my_plugin_last_set"), 7)
        self.assertGreaterEqual(metric_value(text, "latency_ms_count") or 0, 2)

    def test_config_dump(self):
        d = self.proxy.admin_json("/config_dump")
        self.assertEqual(d["bootstrap"]["listeners"][0]["name"], "main")
        self.assertEqual(d["bootstrap"]["admin"]["address"], f"127.0.0.1:{self.proxy.admin_port}")
        plugins = {p["name"]: p for p in d["plugins"]}
        self.assertEqual(set(plugins), {"metrics", "broken"})
        m = plugins["metrics"]
        self.assertEqual(m["namespace"], "default")
        self.assertEqual(m["phase"], "STATS")
        self.assertEqual(m["priority"], 3)
        self.assertEqual(m["fail_strategy"], "FAIL_CLOSE")
        self.assertEqual(m["state"], "loaded")
        self.assertIsNone(m["error"])
        self.assertTrue(m["url"].endswith("metrics.wasm"))
        with open(plugin_path("metrics"), "rb") as f:
            self.assertEqual(m["module_sha256"], hashlib.sha256(f.read()).hexdigest())
        b = plugins["broken"]
        self.assertEqual(b["state"], "failed")
        self.assertEqual(b["fail_strategy"], "FAIL_OPEN")
        self.assertTrue(b["error"])

    def test_plugins(self):
        lst = self.proxy.admin_json("/plugins")
        plugins = {p["name"]: p for p in lst}
        m = plugins["metrics"]
        self.assertEqual(m["state"], "loaded")
        self.assertEqual((m["restarts"], m["traps"]), (0, 0))
        self.assertIsNone(m["error"])
        self.assertEqual(plugins["broken"]["state"], "failed")
        self.assertTrue(plugins["broken"]["error"])

    def test_logging(self):
        levels = self.proxy.admin_json("/logging")
        self.assertIn("level", levels)
        self.assertIn("wasm", levels["components"])

        d = self.proxy.admin_json("/logging?wasm=trace", method="POST")
        self.assertEqual(d["components"]["wasm"], "trace")
        d = self.proxy.admin_json("/logging?http=debug,wasm=info", method="POST")
        self.assertEqual((d["components"]["http"], d["components"]["wasm"]), ("debug", "info"))
        d = self.proxy.admin_json("/logging?level=warn&mycomp=error", method="POST")
        self.assertEqual(d["level"], "warn")
        self.assertEqual(d["components"]["mycomp"], "error")
        d = self.proxy.admin_json("/logging?level=info&http=info&wasm=info", method="POST")
        self.assertEqual(d["level"], "info")

        status, _, body = self.proxy.admin("/logging?wasm=loud", method="POST")
        self.assertEqual(status, 400)
        self.assertIn(b"loud", body)
        status, _, _ = self.proxy.admin("/logging?Bad_Name=info", method="POST")
        self.assertEqual(status, 400)
        # Nothing changed by the rejected requests.
        self.assertEqual(self.proxy.admin_json("/logging")["components"]["wasm"], "info")

    def test_logging_takes_effect(self):
        self.proxy.admin_json("/logging?wasm=trace", method="POST")
        try:
            self.proxy.request("GET", "/traced")
            time.sleep(0.2)
            self.assertIn("[trace][wasm]", self.proxy.log())
        finally:
            self.proxy.admin_json("/logging?wasm=info", method="POST")

    def test_not_found_and_method(self):
        self.assertEqual(self.proxy.admin("/nope")[0], 404)
        status, h, _ = self.proxy.admin("/ready", method="POST")
        self.assertEqual(status, 405)
        self.assertIn("GET", h.get("allow", ""))
        self.assertEqual(self.proxy.admin("/logging", method="DELETE")[0], 405)

    def test_malformed_admin_request(self):
        with socket.create_connection(("127.0.0.1", self.proxy.admin_port), timeout=5) as s:
            s.sendall(b"GET /ready HTTP/1.1\nHost: x\n\n")
            data = s.recv(4096)
        self.assertTrue(data.startswith(b"HTTP/1.1 400"), data)
        with socket.create_connection(("127.0.0.1", self.proxy.admin_port), timeout=5) as s:
            s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
            data = s.recv(4096)
        self.assertTrue(data.startswith(b"HTTP/1.1 431"), data)
        self.assertEqual(self.proxy.admin("/ready")[0], 200)


class PluginStatus(ProxyTestCase):
    def test_trap_counted(self):
        up = self.start_upstream("up")
        p = self.start_proxy(
            routes=[route_to("up")], clusters={"up": [up.address]},
            plugins=[manifest("trap", plugin_path("trap"), fail_strategy="FAIL_RELOAD")])
        self.assertEqual(p.request("GET", "/t", headers={"x-trap": "div0"})[0], 503)
        # Denied during the reload backoff, then served by a new VM.
        deadline = time.monotonic() + 5
        while p.request("GET", "/after")[0] != 200:
            self.assertLess(time.monotonic(), deadline, "the plugin was not reloaded")
            time.sleep(0.2)
        t = {x["name"]: x for x in p.admin_json("/plugins")}["trap"]
        self.assertEqual(t["traps"], 1)
        self.assertGreaterEqual(t["restarts"], 1)
        self.assertEqual(t["state"], "loaded")

    def test_failed_vm_reported(self):
        up = self.start_upstream("up")
        p = self.start_proxy(
            routes=[route_to("up")], clusters={"up": [up.address]},
            plugins=[manifest("trap", plugin_path("trap"), fail_strategy="FAIL_CLOSE")])
        self.assertEqual(p.request("GET", "/t", headers={"x-trap": "div0"})[0], 503)
        t = {x["name"]: x for x in p.admin_json("/plugins")}["trap"]
        self.assertEqual(t["state"], "failed")
        self.assertIn("divide by zero", t["error"] or "")
        self.assertEqual(t["traps"], 1)


class Drain(ProxyTestCase):
    def test_sigterm_drains_in_flight_request(self):
        up = self.start_upstream("up")
        p = self.start_proxy(routes=[route_to("up")], clusters={"up": [up.address]},
                             limits={"drain_timeout_ms": 10000})
        result = {}

        def slow():
            try:
                result["r"] = p.request("GET", "/slow?ms=1500", timeout=15)
            except Exception as ex:  # noqa: BLE001
                result["r"] = ex

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.4)
        self.assertNotIn("r", result, "the slow request finished too early")
        p.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        # Still draining: the admin says so.
        try:
            status, _, body = p.admin("/ready", timeout=2)
            self.assertEqual((status, body), (503, b"DRAINING\n"))
        except OSError:
            pass  # the admin may already be closed; the rest still holds
        t.join(15)
        r = result.get("r")
        self.assertIsInstance(r, tuple, f"the in-flight request failed: {r!r}")
        self.assertEqual(r[0], 200)
        self.assertEqual(json.loads(r[2])["path"], "/slow?ms=1500")
        self.assertEqual(p.proc.wait(10), 0)

    def test_sigterm_idle_exits_quickly(self):
        p = self.start_proxy()
        t0 = time.monotonic()
        self.assertEqual(p.terminate(), 0)
        self.assertLess(time.monotonic() - t0, 3)

    def test_sigint_exits(self):
        p = self.start_proxy()
        p.proc.send_signal(signal.SIGINT)
        self.assertEqual(p.proc.wait(10), 0)

    def test_drain_timeout_cuts_long_requests(self):
        up = self.start_upstream("up")
        p = self.start_proxy(routes=[route_to("up")], clusters={"up": [up.address]},
                             limits={"drain_timeout_ms": 500})
        t = threading.Thread(target=lambda: self._swallow(p.request, "GET", "/slow?ms=5000",
                                                          timeout=15))
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        p.proc.send_signal(signal.SIGTERM)
        p.proc.wait(10)
        self.assertLess(time.monotonic() - t0, 3, "drain_timeout_ms was not honoured")
        t.join(15)

    @staticmethod
    def _swallow(fn, *a, **kw):
        try:
            fn(*a, **kw)
        except Exception:  # noqa: BLE001
            pass


class RunCommand(ProxyTestCase):
    def run_cmd(self, *args, timeout=20):
        return subprocess.run([WASMGATE, "run", *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def test_usage(self):
        self.assertEqual(self.run_cmd().returncode, 2)
        self.assertEqual(self.run_cmd("--bogus").returncode, 2)
        p = self.run_cmd("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("-c", p.stdout)

    def test_missing_file(self):
        p = self.run_cmd("-c", "/nonexistent/wasmgate.yaml")
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent/wasmgate.yaml", p.stderr)

    def test_invalid_config(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.yaml")
            with open(path, "w") as f:
                f.write("listeners:\n- name: main\n  adress: 127.0.0.1:1\n")
            p = self.run_cmd("-c", path)
        self.assertEqual(p.returncode, 1)
        self.assertIn("bad.yaml:3:", p.stderr)

    def test_bad_log_level_flag(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "ok.yaml")
            with open(path, "w") as f:
                f.write("listeners:\n- name: main\n  address: 127.0.0.1:0\n"
                        "  routes: [{match: {prefix: /}, direct_response: {status: 200}}]\n")
            p = self.run_cmd("-c", path, "--log-level", "loud")
        self.assertEqual(p.returncode, 2)

    def test_address_in_use(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            busy = s.getsockname()[1]
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "busy.yaml")
                with open(path, "w") as f:
                    f.write(f"admin: {{address: 127.0.0.1:{busy}}}\n"
                            "listeners:\n- name: main\n  address: 127.0.0.1:0\n"
                            "  routes: [{match: {prefix: /}, direct_response: {status: 200}}]\n")
                p = self.run_cmd("-c", path)
        self.assertEqual(p.returncode, 1)
        self.assertIn("in use", p.stderr)

    def test_log_level_flags(self):
        p = Proxy(args=["--log-level", "debug", "--component-log-level", "admin:trace"])
        self.addCleanup(p.stop)
        p.start()
        self.proxy = p
        lv = p.admin_json("/logging")
        self.assertEqual(lv["level"], "debug")
        self.assertEqual(lv["components"]["admin"], "trace")

    def test_log_levels_from_config(self):
        p = Proxy(log_level="warn", component_log_level="http:debug")
        self.addCleanup(p.stop)
        p.start()
        self.proxy = p
        lv = p.admin_json("/logging")
        self.assertEqual(lv["level"], "warn")
        self.assertEqual(lv["components"]["http"], "debug")


if __name__ == "__main__":
    main()
