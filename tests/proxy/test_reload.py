#!/usr/bin/env python3
"""Live reload of WasmPlugin manifests: plugins added, changed and removed
while the proxy runs; pluginConfig-only changes reuse the module; a failed
update (missing module, plugin that refuses its configuration, invalid
YAML, a fetch that never answers) keeps the last good version serving and
is reported; a plugin that never loaded is retried; edits under traffic
fail no request; a request in flight finishes on the chain it started
with."""
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ProxyTestCase, header, main, manifest, plugin_path,  # noqa: E402
                     route_to)


def add_header(name="add-header", value="one", url=None, **kw):
    return manifest(name, url or plugin_path("add_header"), config={"value": value}, **kw)


class LiveReload(ProxyTestCase):
    """add_header sets x-wasmgate: <value> on requests and x-plugin:
    add_header on responses; each test edits the manifests directory of a
    running proxy."""

    def setUp(self):
        self.up = self.start_upstream("up")

    def start(self, plugins=(), workers=2, extra=None):
        return self.start_proxy(workers=workers, routes=[route_to("up")],
                                clusters={"up": [self.up.address]}, plugins=plugins,
                                extra=extra)

    def value(self, p, path="/"):
        """x-wasmgate as the upstream saw it (None: no plugin ran)."""
        status, _, body = p.request("GET", path)
        self.assertEqual(status, 200, body)
        return header(json.loads(body)["headers"], "x-wasmgate")

    def values(self, p, n=8):
        """Over several connections, so that both workers answer."""
        return {self.value(p, f"/v{i}") for i in range(n)}

    def metric(self, p, line_start):
        for line in p.admin("/stats/prometheus")[2].decode().splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return None

    def test_add_change_remove(self):
        p = self.start()
        v0, _ = p.snapshot_version()
        self.assertEqual(self.values(p), {None})

        p.write_manifest("a.yaml", add_header(value="one"))
        v1 = p.wait_snapshot(v0)
        self.assertEqual(self.values(p), {"one"})
        self.assertEqual(p.plugin_status("add-header")["state"], "loaded")

        # pluginConfig alone: a new root context on the same module.
        p.write_manifest("a.yaml", add_header(value="two"))
        v2 = p.wait_snapshot(v1)
        self.assertEqual(self.values(p), {"two"})
        self.assertIn("plugin default/add-header reconfigured", p.log())

        p.remove_manifest("a.yaml")
        p.wait_snapshot(v2)
        self.assertEqual(self.values(p), {None})
        self.assertEqual(p.admin_json("/plugins"), [])
        self.assertIn("plugin default/add-header removed", p.log())

    def test_unchanged_plugin_keeps_its_vms(self):
        p = self.start(plugins=[add_header(value="kept")])
        v0, _ = p.snapshot_version()
        configured = p.log().count("add_header configured value=kept")
        self.assertGreaterEqual(configured, 2)  # one VM per worker
        # Another plugin comes: the first one's VMs carry on (no new
        # on_configure on the workers).
        p.write_manifest("b.yaml", manifest("tag", plugin_path("chain_tag"),
                                            config={"tag": "b"}))
        p.wait_snapshot(v0)
        status, _, body = p.request("GET", "/")
        headers = json.loads(body)["headers"]
        self.assertEqual(header(headers, "x-wasmgate"), "kept")
        self.assertEqual(header(headers, "x-chain"), "b")
        self.assertEqual(p.log().count("add_header configured value=kept"), configured)

    def test_same_content_publishes_nothing(self):
        p = self.start(plugins=[add_header(value="same")])
        v0, _ = p.snapshot_version()
        # Rewritten with the same content (another key order): no new snapshot.
        p.write_manifest("00-add-header.yaml",
                         json.dumps(add_header(value="same"), sort_keys=True))
        time.sleep(1.0)
        self.assertEqual(p.snapshot_version()[0], v0)
        self.assertEqual(self.values(p), {"same"})

    def test_failed_update_keeps_the_last_good_version(self):
        p = self.start(plugins=[add_header(value="good")])
        v0, _ = p.snapshot_version()
        missing = os.path.join(p.dir, "missing.wasm")
        p.write_manifest("00-add-header.yaml", add_header(value="bad", url=missing))
        v1 = p.wait_snapshot(v0)
        # Still the good version, everywhere.
        self.assertEqual(self.values(p), {"good"})
        st = p.plugin_status("add-header")
        self.assertEqual(st["state"], "loaded")
        self.assertIn("missing.wasm", st["update_error"])
        self.assertIn("the last good one", p.log())
        self.assertEqual(self.metric(
            p, 'wasmgate_plugin_update_failures_total{plugin="default/add-header"}'), 1)

        # The module appears: the retry brings the new version without any
        # further edit.
        shutil.copy(plugin_path("add_header"), missing)
        p.wait_snapshot(v1)
        self.assertEqual(self.values(p), {"bad"})
        self.assertIsNone(p.plugin_status("add-header")["update_error"])

    def test_plugin_refusing_its_configuration_is_not_published(self):
        p = self.start(plugins=[add_header(value="good")])
        v0, _ = p.snapshot_version()
        p.write_manifest("00-add-header.yaml",
                         manifest("add-header", plugin_path("bad_configure")))
        p.wait_snapshot(v0)
        self.assertEqual(self.values(p), {"good"})
        err = p.plugin_status("add-header")["update_error"]
        self.assertIn("failed to start", err)
        # The check ran once, off the workers.
        self.assertIn("(start check): bad_configure rejecting", p.log())

    def test_invalid_file_keeps_its_plugins(self):
        p = self.start(plugins=[add_header(value="good")])
        v0, _ = p.snapshot_version()
        # A half-written save, not atomic.
        p.write_manifest("00-add-header.yaml", "apiVersion: extensions.istio.io/v1alpha1\n"
                         "kind: WasmPlugin\nmetadata: {name: add-header}\nspec:\n  url: [\n",
                         atomic=False)
        v1 = p.wait_snapshot(v0)
        self.assertEqual(self.values(p), {"good"})
        self.assertIn("invalid documents", p.plugin_status("add-header")["update_error"])
        # Fixed: a new version.
        p.write_manifest("00-add-header.yaml", add_header(value="fixed"))
        p.wait_snapshot(v1)
        self.assertEqual(self.values(p), {"fixed"})

    def test_never_loaded_plugin_is_retried(self):
        where = tempfile.mkdtemp(prefix="wasmgate-late-")
        self.addCleanup(shutil.rmtree, where, True)
        path = os.path.join(where, "late.wasm")
        p = self.start(plugins=[add_header(value="late", url=path)])
        v0, _ = p.snapshot_version()
        # FAIL_CLOSE, never loaded: denied with 403.
        status, _, body = p.request("GET", "/")
        self.assertEqual((status, body), (403, b"RBAC: access denied\n"))
        self.assertEqual(p.plugin_status("add-header")["state"], "failed")
        shutil.copy(plugin_path("add_header"), path)
        p.wait_snapshot(v0)
        self.assertEqual(self.values(p), {"late"})

    def test_rebuilt_file_module_is_reloaded(self):
        where = tempfile.mkdtemp(prefix="wasmgate-mod-")
        self.addCleanup(shutil.rmtree, where, True)
        path = os.path.join(where, "plugin.wasm")
        shutil.copy(plugin_path("add_header"), path)
        p = self.start(plugins=[add_header(value="first", url=path)])
        v0, _ = p.snapshot_version()
        self.assertEqual(self.values(p), {"first"})
        # Rebuilt in place (another plugin, same file) while the manifest
        # changes too: the new bytes are used, not the module in memory.
        shutil.copy(plugin_path("chain_tag"), path)
        p.write_manifest("00-add-header.yaml", add_header(value="first", url=path, priority=5))
        v1 = p.wait_snapshot(v0)
        status, _, body = p.request("GET", "/")
        headers = json.loads(body)["headers"]
        self.assertIsNone(header(headers, "x-wasmgate"))
        self.assertIsNotNone(header(headers, "x-chain"))
        # Rebuilt again with the manifest untouched: SIGHUP (or any reload)
        # reads it again.
        shutil.copy(plugin_path("add_header"), path)
        p.proc.send_signal(signal.SIGHUP)
        p.wait_snapshot(v1)
        self.assertEqual(self.values(p), {"first"})

    def test_sighup_when_not_watching(self):
        p = self.start(plugins=[add_header(value="one")], extra={"plugins": {"watch": False}})
        v0, _ = p.snapshot_version()
        p.write_manifest("00-add-header.yaml", add_header(value="two"))
        time.sleep(1.0)
        self.assertEqual(self.values(p), {"one"})
        p.proc.send_signal(signal.SIGHUP)
        p.wait_snapshot(v0)
        self.assertEqual(self.values(p), {"two"})

    def test_request_in_flight_finishes_on_its_chain(self):
        p = self.start(plugins=[add_header(value="old")], workers=1)
        v0, _ = p.snapshot_version()
        result = {}

        def slow():
            result["r"] = p.request("GET", "/slow?ms=1500")

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.3)  # the request is at the upstream
        p.remove_manifest("00-add-header.yaml")
        p.wait_snapshot(v0)
        self.assertEqual(self.values(p, 2), {None})  # new requests: no plugin
        t.join()
        status, h, body = result["r"]
        self.assertEqual(status, 200)
        # Both directions ran on the old chain.
        self.assertEqual(header(json.loads(body)["headers"], "x-wasmgate"), "old")
        self.assertEqual(h.get("x-plugin"), "add_header")

    def test_edits_under_traffic_fail_no_request(self):
        p = self.start(plugins=[add_header(value="v0")])
        stop = threading.Event()
        failures, seen, count = [], set(), [0]
        lock = threading.Lock()

        def client(keep_alive):
            conn = p.conn() if keep_alive else None
            while not stop.is_set():
                try:
                    c = conn or p.conn()
                    c.request("GET", "/traffic")
                    r = c.getresponse()
                    body = r.read()
                    if not conn:
                        c.close()
                    with lock:
                        count[0] += 1
                        if r.status != 200:
                            failures.append((r.status, body[:200]))
                        else:
                            seen.add(header(json.loads(body)["headers"], "x-wasmgate"))
                except Exception as e:  # noqa: BLE001 - any failure counts
                    with lock:
                        failures.append(repr(e))
                    if conn:
                        conn.close()
                        conn = p.conn()
            if conn:
                conn.close()

        threads = [threading.Thread(target=client, args=(i % 2 == 0,)) for i in range(4)]
        for t in threads:
            t.start()
        try:
            for i in range(1, 13):
                p.write_manifest("00-add-header.yaml", add_header(value=f"v{i}"))
                if i % 3 == 0:
                    p.write_manifest("01-tag.yaml",
                                     manifest("tag", plugin_path("chain_tag"),
                                              config={"tag": str(i)}))
                elif i % 3 == 1 and os.path.exists(os.path.join(p.manifests_dir, "01-tag.yaml")):
                    p.remove_manifest("01-tag.yaml")
                time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(failures, [], f"{len(failures)} of {count[0]} requests failed")
        self.assertGreater(count[0], 50)
        self.assertIn("v12", seen)
        self.assertGreater(len(seen), 3, seen)
        self.assertNotIn(None, seen)  # never a request without the plugin


class RemoteReload(ProxyTestCase):
    """Updates fetched over http: in the background, bounded by
    fetch_timeout_ms, while the previous version serves."""

    def setUp(self):
        self.up = self.start_upstream("up")
        with open(plugin_path("add_header"), "rb") as f:
            module = f.read()
        self.modsrv = self.start_upstream("modules", routes={
            "/add_header.wasm": (200, [("Content-Type", "application/wasm")], module)})
        # Accepts connections and never answers.
        self.silent = socket.socket()
        self.silent.bind(("127.0.0.1", 0))
        self.silent.listen(16)
        self.addCleanup(self.silent.close)

    def test_slow_fetch_does_not_block_and_fails_clearly(self):
        url = f"http://{self.modsrv.address}/add_header.wasm"
        p = self.start_proxy(workers=2, routes=[route_to("up")],
                             clusters={"up": [self.up.address]},
                             plugins=[add_header(value="remote", url=url)],
                             extra={"plugins": {"fetch_timeout_ms": 3000}})
        v0, _ = p.snapshot_version()
        host, port = self.silent.getsockname()
        p.write_manifest("00-add-header.yaml",
                         add_header(value="never", url=f"http://{host}:{port}/x.wasm"))
        # While the fetch hangs, traffic flows on the current version.
        t0 = time.time()
        while time.time() - t0 < 1.5:
            status, _, body = p.request("GET", "/during", timeout=2)
            self.assertEqual(status, 200)
            self.assertEqual(header(json.loads(body)["headers"], "x-wasmgate"), "remote")
        p.wait_snapshot(v0, timeout=20)
        st = p.plugin_status("add-header")
        self.assertEqual(st["state"], "loaded")
        self.assertIn(f"{host}:{port}", st["update_error"])
        self.assertIn("the last good one", p.log())
        status, _, body = p.request("GET", "/after")
        self.assertEqual(header(json.loads(body)["headers"], "x-wasmgate"), "remote")

    def test_shutdown_does_not_wait_for_a_fetch(self):
        url = f"http://{self.modsrv.address}/add_header.wasm"
        p = self.start_proxy(routes=[route_to("up")], clusters={"up": [self.up.address]},
                             plugins=[add_header(value="remote", url=url)],
                             extra={"plugins": {"fetch_timeout_ms": 60000}})
        host, port = self.silent.getsockname()
        p.write_manifest("00-add-header.yaml",
                         add_header(value="never", url=f"http://{host}:{port}/x.wasm"))
        time.sleep(0.8)  # the round is waiting for the silent server
        t0 = time.time()
        self.assertEqual(p.terminate(timeout=10), 0)
        self.assertLess(time.time() - t0, 5, "SIGTERM waited for the fetch")


if __name__ == "__main__":
    main()
