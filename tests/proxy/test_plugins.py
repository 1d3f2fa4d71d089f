#!/usr/bin/env python3
"""Proxy-Wasm plugins in the proxy: chain order (phase, priority), failure
policies, local replies, ticks, HTTP calls to a configured cluster, and
the AssemblyScript SDK."""
import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ProxyTestCase, RawClient, header, main, manifest,  # noqa: E402
                     plugin_path, route_to, closed_port, WASMGATE)


def assert_no_plugin_assertions(test, proxy):
    failed = [l for l in proxy.log().splitlines() if "ASSERT FAILED" in l]
    test.assertEqual(failed, [], "a plugin reported a failed check")


class Chain(ProxyTestCase):
    """chain_tag appends its tag to x-chain (request) and x-chain-resp
    (response), so the header values spell the order the plugins ran in."""

    @classmethod
    def setUpClass(cls):
        cls.up = cls.start_class_upstream("up")
        tag = plugin_path("chain_tag")
        # Written in an order that is not the chain order.
        cls.start_class_proxy(
            routes=[route_to("up")], clusters={"up": [cls.up.address]},
            plugins=[
                manifest("z-stats", tag, phase="STATS", config={"tag": "stats"}),
                manifest("unspecified", tag, config={"tag": "none"}),
                manifest("authz-lo", tag, phase="AUTHZ", priority=1, config={"tag": "authz-lo"}),
                manifest("authn", tag, phase="AUTHN", config={"tag": "authn"}),
                manifest("authz-hi", tag, phase="AUTHZ", priority=10,
                         config={"tag": "authz-hi"}),
            ])

    def test_request_order(self):
        status, h, body = self.proxy.request("GET", "/chain")
        self.assertEqual(status, 200)
        e = json.loads(body)
        self.assertEqual(header(e["headers"], "x-chain"), "authn,authz-hi,authz-lo,stats,none")

    def test_response_order_is_reversed(self):
        status, h, _ = self.proxy.request("GET", "/chain")
        self.assertEqual(status, 200)
        self.assertEqual(h.get("x-chain-resp"), "none,stats,authz-lo,authz-hi,authn")

    def test_client_value_is_extended(self):
        e = self.proxy.get_json("/chain", headers={"x-chain": "client"})
        self.assertEqual(header(e["headers"], "x-chain"),
                         "client,authn,authz-hi,authz-lo,stats,none")

    def test_error_statuses_go_through_the_chain(self):
        # Error statuses from the upstream go through the chain like any other.
        status, h, _ = self.proxy.request("GET", "/status/404")
        self.assertEqual(status, 404)
        self.assertEqual(h.get("x-chain-resp"), "none,stats,authz-lo,authz-hi,authn")

    def test_bodies_pass_plugins_without_body_callbacks(self):
        # chain_tag has no body callbacks: its five stages pass bodies on
        # without body events, in both directions, whole and unchanged.
        data = bytes(range(256)) * 4096
        status, _, body = self.proxy.request("POST", "/chain", body=data)
        self.assertEqual(status, 200)
        e = json.loads(body)
        self.assertEqual(e["body_len"], len(data))
        self.assertEqual(e["body_sha256"], hashlib.sha256(data).hexdigest())
        status, h, body = self.proxy.request("GET", "/large?bytes=3000001")
        self.assertEqual(status, 200)
        self.assertEqual(len(body), 3000001)
        self.assertEqual(h.get("x-chain-resp"), "none,stats,authz-lo,authz-hi,authn")

    def test_no_assertions_failed(self):
        self.proxy.request("GET", "/chain")
        assert_no_plugin_assertions(self, self.proxy)


class FailurePolicies(ProxyTestCase):
    """trap.wasm traps on requests with x-trap; without it, it adds
    x-trap-plugin: passed."""

    def setUp(self):
        self.up = self.start_upstream("up")

    def start(self, strategy):
        return self.start_proxy(
            routes=[route_to("up")], clusters={"up": [self.up.address]}, access_log=True,
            plugins=[manifest("trap", plugin_path("trap"), fail_strategy=strategy)])

    def test_fail_close(self):
        p = self.start("FAIL_CLOSE")
        status, _, _ = p.request("GET", "/ok")
        self.assertEqual(status, 200)
        before = len(self.up.requests)
        status, _, body = p.request("GET", "/trap", headers={"x-trap": "div0"})
        self.assertEqual(status, 503)
        self.assertEqual(len(self.up.requests), before, "a failed stream reached the upstream")
        self.assertTrue(b"wasm_fail_stream" in body or "wasm_fail_stream" in p.log(),
                        f"no wasm_fail_stream in the body ({body!r}) or the log")
        # The VM is gone: later requests are denied too.
        status, _, _ = p.request("GET", "/after")
        self.assertEqual(status, 503)
        self.assertEqual(len(self.up.requests), before)
        self.assertIn("integer divide by zero", p.log())

    def test_fail_open(self):
        p = self.start("FAIL_OPEN")
        status, _, body = p.request("GET", "/trap", headers={"x-trap": "unreachable"})
        self.assertEqual(status, 200, body)
        status, _, body = p.request("GET", "/after")
        self.assertEqual(status, 200)
        # The plugin is skipped from now on.
        self.assertIsNone(header(json.loads(body)["headers"], "x-trap-plugin"))

    def test_fail_reload(self):
        p = self.start("FAIL_RELOAD")
        status, _, _ = p.request("GET", "/trap", headers={"x-trap": "oob"})
        self.assertEqual(status, 503)
        time.sleep(1.5)  # the first reload backoff is 1 s
        status, _, body = p.request("GET", "/after")
        self.assertEqual(status, 200, body)
        self.assertEqual(header(json.loads(body)["headers"], "x-trap-plugin"), "passed")

    def test_missing_module_fail_open(self):
        p = self.start_proxy(
            routes=[route_to("up")], clusters={"up": [self.up.address]},
            plugins=[manifest("missing", "/nonexistent/dir/missing.wasm",
                              fail_strategy="FAIL_OPEN")])
        status, _, _ = p.request("GET", "/")
        self.assertEqual(status, 200)

    def test_missing_module_fail_close(self):
        # The proxy starts (a plugin that cannot load is reported and
        # retried, not a reason to refuse all traffic)...
        p = self.start_proxy(
            routes=[route_to("up")], clusters={"up": [self.up.address]},
            plugins=[manifest("missing", "/nonexistent/dir/missing.wasm")])
        # ...and a module that cannot be had: its traffic is denied with 403, as
        # Istio's deny-all fallback (not 503: nothing trapped).
        status, _, body = p.request("GET", "/")
        self.assertEqual((status, body), (403, b"RBAC: access denied\n"))
        self.assertEqual(self.up.requests, [])


class LocalReplies(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = cls.start_class_upstream("up")
        cls.start_class_proxy(
            routes=[route_to("up")], clusters={"up": [cls.up.address]},
            limits={"stream_idle_timeout_ms": 600},
            plugins=[manifest("local-reply", plugin_path("local_reply"),
                              config={"tick_ms": "20"})])

    def test_deny(self):
        before = len(self.up.requests)
        status, h, body = self.proxy.request("GET", "/x", headers={"x-deny": "1"})
        self.assertEqual((status, body), (403, b"denied\n"))
        self.assertEqual(h.get("x-denied-by"), "wasmgate")
        self.assertEqual(len(self.up.requests), before)

    def test_deny_keeps_connection_usable(self):
        c = self.proxy.conn()
        try:
            c.request("GET", "/x", headers={"x-deny": "1"})
            r = c.getresponse()
            self.assertEqual(r.status, 403)
            r.read()
            c.request("GET", "/next")
            r = c.getresponse()
            self.assertEqual(json.loads(r.read())["path"], "/next")
        finally:
            c.close()

    def test_deny_with_unread_body(self):
        # The reply comes before the request body was read: the proxy may
        # keep the connection (reading and dropping the body) or close it,
        # but then it must say so.
        with RawClient(self.proxy.port) as c:
            c.send(b"POST /x HTTP/1.1\r\nHost: t\r\nx-deny: 1\r\nContent-Length: 7\r\n\r\n"
                   b"payload")
            r = c.read_final()
            self.assertEqual((r.status, r.body), (403, b"denied\n"))
            if (r.header("connection") or "").lower() == "close":
                self.assertTrue(c.closed())
            else:
                c.send(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
                self.assertEqual(json.loads(c.read_final().body)["path"], "/next")

    def test_pause_then_reply_from_tick(self):
        status, h, body = self.proxy.request("GET", "/pause-then-reply")
        self.assertEqual((status, body), (200, b"replied from tick\n"))
        self.assertEqual(h.get("x-replied-by"), "tick")

    def test_pause_then_continue_from_tick(self):
        status, _, body = self.proxy.request("GET", "/pause-then-continue")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["path"], "/pause-then-continue")

    def test_pause_response_then_continue(self):
        status, _, body = self.proxy.request("GET", "/r", headers={"x-pause-response": "1"})
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["path"], "/r")

    def test_body_held_at_its_end_is_delivered_once(self):
        status, _, body = self.proxy.request("POST", "/hold", body=b"abc",
                                             headers={"x-hold-body": "1"})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["body"], "abc")
        assert_no_plugin_assertions(self, self.proxy)

    def test_paused_request_trailers_wait_for_the_plugin(self):
        # The plugin holds the trailers until its tick, which adds one: the
        # upstream can only see it if the end of the request waited.
        with RawClient(self.proxy.port) as c:
            c.send(b"POST /trailers HTTP/1.1\r\nHost: t\r\nx-pause-trailers: 1\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n0\r\nx-client-trailer: c\r\n\r\n")
            r = c.read_final()
        self.assertEqual(r.status, 200, r.body)
        record = json.loads(r.body)
        self.assertEqual(record["body"], "hello")
        self.assertIn(["x-client-trailer", "c"], record["trailers"])
        self.assertIn(["x-added-on-tick", "yes"], record["trailers"])
        self.assertIn("continue-trailers", self.proxy.log())

    def test_plugin_that_never_resumes_meets_the_stream_idle_timeout(self):
        before = len(self.up.requests)
        c = self.proxy.conn()
        try:
            c.request("GET", "/pause-forever")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (408, b"stream timeout\n"))
            # The connection stays usable.
            c.request("GET", "/after-timeout")
            r = c.getresponse()
            self.assertEqual(json.loads(r.read())["path"], "/after-timeout")
        finally:
            c.close()
        self.assertEqual(len(self.up.requests), before + 1)  # only /after-timeout

    def test_activity_keeps_a_slow_request_alive(self):
        # A body trickling in more slowly than the timeout in total, but
        # with no gap as long as it, is served.
        with RawClient(self.proxy.port) as c:
            c.send(b"POST /slow-body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n")
            for ch in b"abcde":
                time.sleep(0.25)
                c.send(bytes([ch]))
            r = c.read_final()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.body)["body"], "abcde")

    def test_passes_other_requests(self):
        status, _, _ = self.proxy.request("GET", "/plain")
        self.assertEqual(status, 200)
        assert_no_plugin_assertions(self, self.proxy)


class HttpCalls(ProxyTestCase):
    """http_call.wasm asks the cluster "auth" (GET /check) before each
    request: 200 -> the request goes on with x-auth: <answer body>; other
    statuses -> 403; no answer -> 503."""

    @classmethod
    def setUpClass(cls):
        cls.answer = {"status": 200, "body": b"alice\n"}
        cls.auth = cls.start_class_upstream(
            "auth", routes={"/check": lambda rec: (cls.answer["status"], [],
                                                   cls.answer["body"])})
        cls.up = cls.start_class_upstream("up")
        cls.start_class_proxy(
            routes=[route_to("up")],
            clusters={"up": [cls.up.address], "auth": [cls.auth.address]},
            plugins=[manifest("auth", plugin_path("http_call"), phase="AUTHN",
                              config={"cluster": "auth"})])

    def setUp(self):
        self.answer.update(status=200, body=b"alice\n")

    def test_allowed(self):
        status, _, body = self.proxy.request("GET", "/resource")
        self.assertEqual(status, 200, body)
        e = json.loads(body)
        self.assertEqual(header(e["headers"], "x-auth"), "alice")
        check = [r for r in self.auth.requests if r["path"] == "/check"]
        self.assertTrue(check)
        self.assertEqual(check[-1]["method"], "GET")
        self.assertEqual(check[-1]["body"], "ping")

    def test_denied(self):
        self.answer.update(status=401, body=b"no\n")
        before = len(self.up.requests)
        status, h, body = self.proxy.request("GET", "/resource")
        self.assertEqual((status, body), (403, b"forbidden\n"))
        self.assertEqual(h.get("x-auth-status"), "401")
        self.assertEqual(len(self.up.requests), before)

    def test_concurrent_calls(self):
        results = []

        def one(i):
            try:
                results.append(self.proxy.request("GET", f"/c{i}")[0])
            except Exception as ex:  # noqa: BLE001
                results.append(repr(ex))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(results, [200] * 10)

    def test_post_body_waits_for_the_call(self):
        status, _, body = self.proxy.request("POST", "/upload", body=b"x" * 100000)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["body_len"], 100000)

    def test_no_assertions_failed(self):
        self.proxy.request("GET", "/resource")
        assert_no_plugin_assertions(self, self.proxy)


class HttpCallAuthDown(ProxyTestCase):
    def test_auth_unavailable(self):
        from harness import closed_port
        up = self.start_upstream("up")
        p = self.start_proxy(
            routes=[route_to("up")],
            clusters={"up": [up.address], "auth": [f"127.0.0.1:{closed_port()}"]},
            plugins=[manifest("auth", plugin_path("http_call"), config={"cluster": "auth"})])
        status, _, body = p.request("GET", "/resource")
        self.assertEqual((status, body), (503, b"auth unavailable\n"))
        self.assertEqual(up.requests, [])


class AssemblyScript(ProxyTestCase):
    def test_as_add_header(self):
        up = self.start_upstream("up")
        p = self.start_proxy(
            routes=[route_to("up")], clusters={"up": [up.address]},
            plugins=[manifest("as-add-header", plugin_path("add_header", as_plugin=True))])
        status, h, body = p.request("GET", "/as")
        self.assertEqual(status, 200)
        self.assertEqual(header(json.loads(body)["headers"], "x-wasmgate-as"), "on")
        self.assertEqual(h.get("x-plugin"), "as_add_header")


class Workers(ProxyTestCase):
    def test_two_workers_each_run_the_chain(self):
        up = self.start_upstream("up")
        p = self.start_proxy(
            workers=2, routes=[route_to("up")], clusters={"up": [up.address]},
            plugins=[manifest("add-header", plugin_path("add_header"),
                              config={"value": "w"})])
        for i in range(20):
            status, h, body = p.request("GET", f"/w{i}")
            self.assertEqual(status, 200)
            self.assertEqual(header(json.loads(body)["headers"], "x-wasmgate"), "w")
            self.assertEqual(h.get("x-plugin"), "add_header")


class HeaderInjection(ProxyTestCase):
    """A plugin's header values reach the wire only when they are valid: a
    parsed head is written without checking its fields again, but any map a
    plugin changed is checked in full."""

    def test_plugin_value_with_crlf_is_never_forwarded(self):
        up = self.start_upstream("up")
        p = self.start_proxy(
            routes=[route_to("up")], clusters={"up": [up.address]},
            plugins=[manifest("inject", plugin_path("add_header"),
                              config={"value": "a\r\nx-injected: yes"})])
        status, _, body = p.request("GET", "/")
        self.assertEqual(status, 502, body)
        self.assertIn(b"request_head_not_writable", body)
        self.assertEqual(up.requests, [])

    def test_untouched_heads_are_forwarded_as_parsed(self):
        up = self.start_upstream("up")
        p = self.start_proxy(routes=[route_to("up")], clusters={"up": [up.address]})
        status, _, body = p.request("GET", "/", headers={"x-obs": "caf\xe9 \tvalue"})
        self.assertEqual(status, 200, body)
        # obs-text and HTAB are valid field-value bytes, passed through.
        self.assertEqual(header(json.loads(body)["headers"], "x-obs"), "caf\xe9 \tvalue")


class RemoteModules(ProxyTestCase):
    """Modules fetched over http:// at start-up, through the module cache:
    sha256 checked over the unboxed module, gzip unboxed, a failed fetch
    denied by the plugin's failStrategy, the cache reused after a restart."""

    @classmethod
    def setUpClass(cls):
        cls.up = cls.start_class_upstream("up")
        with open(plugin_path("chain_tag"), "rb") as f:
            cls.module = f.read()
        cls.digest = hashlib.sha256(cls.module).hexdigest()
        with open(plugin_path("metrics"), "rb") as f:
            cls.other = f.read()
        wasm_h = [("Content-Type", "application/wasm")]
        cls.modsrv = cls.start_class_upstream("modules", routes={
            "/chain_tag.wasm": (200, wasm_h, cls.module),
            "/chain_tag.wasm.gz": (200, [("Content-Type", "application/gzip")],
                                   gzip.compress(cls.module)),
            "/broken": (500, [], b"oops"),
            "/other.wasm": (200, wasm_h, cls.other),
        })
        cls.base = f"http://{cls.modsrv.address}"

    def start_with(self, url, cache_dir=None, extra=None, **spec):
        return self.start_proxy(
            routes=[route_to("up")], clusters={"up": [self.up.address]},
            cache_dir=cache_dir, extra=extra,
            plugins=[manifest("remote", url, config={"tag": "remote"}, **spec)])

    def chain(self, p):
        status, _, body = p.request("GET", "/")
        self.assertEqual(status, 200, body)
        return header(json.loads(body)["headers"], "x-chain")

    def test_http_module_with_sha256(self):
        p = self.start_with(self.base + "/chain_tag.wasm", sha256=self.digest)
        self.assertEqual(self.chain(p), "remote")

    def test_gzip_is_unboxed_and_hashed_after(self):
        p = self.start_with(self.base + "/chain_tag.wasm.gz", sha256=self.digest)
        self.assertEqual(self.chain(p), "remote")

    def test_sha256_mismatch_denies(self):
        p = self.start_with(self.base + "/chain_tag.wasm", sha256="0" * 64)
        status, _, body = p.request("GET", "/")
        self.assertEqual((status, body), (403, b"RBAC: access denied\n"))
        log = p.log()
        self.assertIn("0" * 64, log)
        self.assertIn(self.digest, log)

    def test_failed_fetch_fail_open(self):
        p = self.start_with(f"http://127.0.0.1:{closed_port()}/x.wasm",
                            failStrategy="FAIL_OPEN",
                            extra={"plugins": {"fetch_timeout_ms": 1000}})
        status, _, body = p.request("GET", "/")
        self.assertEqual(status, 200, body)
        self.assertIsNone(header(json.loads(body)["headers"], "x-chain"))
        self.assertIn("/x.wasm", p.log())

    def test_cache_serves_after_restart_without_the_server(self):
        cache = tempfile.mkdtemp(prefix="wasmgate-cache-")
        self.addCleanup(shutil.rmtree, cache, True)
        srv = self.start_upstream("once", routes={
            "/m.wasm": (200, [("Content-Type", "application/wasm")], self.module)})
        url = f"http://{srv.address}/m.wasm"
        p = self.start_with(url, cache_dir=cache)
        self.assertEqual(self.chain(p), "remote")
        p.stop()
        srv.stop()
        # IfNotPresent (the default for http): the URL's cached copy is used.
        p2 = self.start_with(url, cache_dir=cache)
        self.assertEqual(self.chain(p2), "remote")
        fetched = [r for r in srv.requests if r["path"] == "/m.wasm"]
        self.assertEqual(len(fetched), 1)

    def test_cache_limit_evicts_only_unused_modules(self):
        cache = tempfile.mkdtemp(prefix="wasmgate-cache-")
        self.addCleanup(shutil.rmtree, cache, True)
        p = self.start_with(self.base + "/other.wasm", cache_dir=cache, failStrategy="FAIL_OPEN")
        p.stop()
        # A 1-byte cache: everything not in use goes, the module in use stays.
        p = self.start_with(self.base + "/chain_tag.wasm", cache_dir=cache,
                            extra={"plugins": {"cache_max_bytes": 1}})
        self.assertEqual(self.chain(p), "remote")
        kept = sorted(os.listdir(os.path.join(cache, "sha256")))
        self.assertEqual(kept, [self.digest + ".wasm"])
        self.assertIn("evicted", p.log())

    def test_metrics(self):
        p = self.start_proxy(
            routes=[route_to("up")], clusters={"up": [self.up.address]},
            plugins=[manifest("good", self.base + "/chain_tag.wasm", sha256=self.digest,
                              config={"tag": "good"}),
                     manifest("bad", self.base + "/chain_tag.wasm", sha256="2" * 64,
                              failStrategy="FAIL_OPEN"),
                     manifest("gone", self.base + "/missing.wasm", failStrategy="FAIL_OPEN")])
        self.assertEqual(self.chain(p), "good")
        _, _, text = p.admin("/stats/prometheus")
        text = text.decode() if isinstance(text, bytes) else text
        samples = dict(re.findall(r"^(wasmgate_wasm_[a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.M))
        self.assertEqual(samples['wasmgate_wasm_remote_fetches_total{result="success"}'], "1")
        self.assertEqual(
            samples['wasmgate_wasm_remote_fetches_total{result="checksum_mismatched"}'], "1")
        self.assertEqual(
            samples['wasmgate_wasm_remote_fetches_total{result="download_failure"}'], "1")
        self.assertEqual(samples['wasmgate_wasm_cache_lookups_total{hit="false"}'], "3")
        self.assertEqual(samples['wasmgate_wasm_config_conversions_total{result="success"}'], "1")
        self.assertEqual(
            samples['wasmgate_wasm_config_conversions_total{result="fetch_failure"}'], "2")
        self.assertEqual(samples["wasmgate_wasm_cache_entries"], "1")
        self.assertEqual(samples["wasmgate_wasm_remote_fetch_milliseconds_count"], "3")

    def test_always_refetches(self):
        cache = tempfile.mkdtemp(prefix="wasmgate-cache-")
        self.addCleanup(shutil.rmtree, cache, True)
        url = self.base + "/chain_tag.wasm"
        before = len([r for r in self.modsrv.requests if r["path"] == "/chain_tag.wasm"])
        for _ in range(2):
            p = self.start_with(url, cache_dir=cache, imagePullPolicy="Always")
            self.assertEqual(self.chain(p), "remote")
            p.stop()
        after = len([r for r in self.modsrv.requests if r["path"] == "/chain_tag.wasm"])
        self.assertEqual(after - before, 2)


class BadSources(ProxyTestCase):
    """Modules that cannot be had, through the proxy: each plugin fails with
    a message naming the fault (in /plugins and the log), its traffic gets
    its failStrategy, and the metrics count it as the Istio agent does. The
    server is tests/fetch/server.py (a cut-off download, a large body, a
    registry that answers with malformed manifests)."""

    @classmethod
    def setUpClass(cls):
        cls.up = cls.start_class_upstream("up")
        cls.dir = tempfile.mkdtemp(prefix="wasmgate-badsrc-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        with open(os.path.join(cls.dir, "page.html"), "w") as f:
            f.write("<html><body>Welcome to nginx!</body></html>\n")
        server = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fetch",
                              "server.py")
        cls.srv = subprocess.Popen([sys.executable, server, cls.dir], stdout=subprocess.PIPE)
        cls.addClassCleanup(cls.srv.wait)
        cls.addClassCleanup(cls.srv.terminate)
        cls.port = int(cls.srv.stdout.readline().split()[0])
        cls.base = f"http://127.0.0.1:{cls.port}"

    def test_each_fault_is_named(self):
        registry = f"127.0.0.1:{self.port}"
        faults = {
            # plugin: (url, what its error must say)
            "truncated": (self.base + "/truncated", "transfer closed"),
            "oversized": (self.base + "/large/300000", "module larger than 200000 bytes"),
            "not-wasm": (self.base + "/f/page.html", "page.html"),
            "bad-manifest": (f"oci://{registry}/badjson:v1", "not a JSON object"),
            "bad-index": (f"oci://{registry}/emptyindex:v1", "index without a usable"),
            "html-layer": (f"oci://{registry}/notwasmlayer:v1", "not a WebAssembly module"),
        }
        p = self.start_proxy(
            routes=[route_to("up")], clusters={"up": [self.up.address]},
            plugins=[manifest(name, url, failStrategy="FAIL_OPEN")
                     for name, (url, _) in faults.items()],
            extra={"plugins": {"insecure_registries": [registry], "fetch_timeout_ms": 5000,
                               "max_module_bytes": 200000}})
        status, _, _ = p.request("GET", "/")
        self.assertEqual(status, 200)  # every plugin is skipped (FAIL_OPEN)
        states = {s["name"]: s for s in p.admin_json("/plugins")}
        for name, (_, message) in faults.items():
            self.assertEqual(states[name]["state"], "failed", name)
            self.assertIn(message, states[name]["error"], name)
        text = p.admin("/stats/prometheus")[2].decode()
        samples = dict(re.findall(r"^(wasmgate_wasm_[a-z_]+\{[^}]*\}) (\S+)$", text, re.M))
        # A body that is not Wasm is refused by the download (as Istio).
        self.assertEqual(
            samples['wasmgate_wasm_remote_fetches_total{result="download_failure"}'], "4")
        self.assertEqual(
            samples['wasmgate_wasm_remote_fetches_total{result="manifest_failure"}'], "2")
        self.assertEqual(
            samples['wasmgate_wasm_config_conversions_total{result="fetch_failure"}'], "6")


class OciPullSecrets(ProxyTestCase):
    """imagePullSecret through the proxy: a registry behind htpasswd Basic
    auth, the credentials in a kubernetes.io/dockerconfigjson Secret next
    to the manifests (same namespace only), never written to the log."""

    USER, PASSWORD = "wasm-user", "s3cret-Pa55word"

    @classmethod
    def setUpClass(cls):
        from registry import Registry
        cls.up = cls.start_class_upstream("up")
        with open(plugin_path("chain_tag"), "rb") as f:
            module = f.read()
        cls.registry = Registry(auth=(cls.USER, cls.PASSWORD))
        cls.addClassCleanup(cls.registry.stop)
        cls.registry.push_wasm_image("wg/private", "v1", module)

    def secret(self, name="regcred", namespace="default", config=None):
        text = config or self.registry.docker_config()
        return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                "metadata": {"name": name, "namespace": namespace},
                "data": {".dockerconfigjson": base64.b64encode(text.encode()).decode()}}

    def start_with(self, *resources, **spec):
        url = f"oci://{self.registry.host}/wg/private:v1"
        return self.start_proxy(
            routes=[route_to("up")], clusters={"up": [self.up.address]},
            extra={"plugins": {"insecure_registries": [self.registry.host],
                               "fetch_timeout_ms": 5000}},
            plugins=[*resources, manifest("private", url, config={"tag": "private"},
                                          failStrategy="FAIL_OPEN", **spec)])

    def chain(self, p):
        status, _, body = p.request("GET", "/")
        self.assertEqual(status, 200, body)
        return header(json.loads(body)["headers"], "x-chain")

    def test_pull_secret_gives_access(self):
        p = self.start_with(self.secret(), imagePullSecret="regcred")
        self.assertEqual(self.chain(p), "private")
        self.assertNotIn(self.PASSWORD, p.log())

    def test_without_credentials_the_registry_says_so(self):
        p = self.start_with()
        self.assertIsNone(self.chain(p))  # FAIL_OPEN: skipped
        self.assertIn("the registry wants credentials", p.plugin_status("private")["error"])

    def test_wrong_password_fails_without_leaking_it(self):
        bad = json.dumps({"auths": {self.registry.host: {"username": self.USER,
                                                         "password": "not-the-password"}}})
        p = self.start_with(self.secret(config=bad), imagePullSecret="regcred")
        self.assertIsNone(self.chain(p))
        self.assertIn("401", p.plugin_status("private")["error"])
        self.assertNotIn("not-the-password", p.log())

    def test_secret_of_another_namespace_is_not_used(self):
        p = self.start_with(self.secret(namespace="other"), imagePullSecret="regcred")
        self.assertIsNone(self.chain(p))
        self.assertIn('imagePullSecret "regcred" not found in namespace "default"',
                      p.plugin_status("private")["error"])


class OciModules(ProxyTestCase):
    """Modules pulled from a real registry (Debian's docker-registry on
    loopback, plain HTTP, so listed in insecure_registries): by tag, by
    digest in the URL, with sha256 as the manifest digest."""

    @classmethod
    def setUpClass(cls):
        from registry import Registry
        cls.up = cls.start_class_upstream("up")
        with open(plugin_path("chain_tag"), "rb") as f:
            module = f.read()
        cls.registry = Registry()
        cls.digest = cls.registry.push_wasm_image("wg/chain-tag", "v1", module)

    @classmethod
    def tearDownClass(cls):
        cls.registry.stop()
        super().tearDownClass()

    def start_with(self, url, **spec):
        return self.start_proxy(
            routes=[route_to("up")], clusters={"up": [self.up.address]},
            extra={"plugins": {"insecure_registries": [self.registry.host]}},
            plugins=[manifest("oci", url, config={"tag": "oci"}, **spec)])

    def chain(self, p):
        status, _, body = p.request("GET", "/")
        self.assertEqual(status, 200, body)
        return header(json.loads(body)["headers"], "x-chain")

    def test_by_tag(self):
        p = self.start_with(f"oci://{self.registry.host}/wg/chain-tag:v1")
        self.assertEqual(self.chain(p), "oci")

    def test_by_digest_in_url(self):
        p = self.start_with(f"oci://{self.registry.host}/wg/chain-tag@{self.digest}")
        self.assertEqual(self.chain(p), "oci")

    def test_sha256_is_the_manifest_digest(self):
        p = self.start_with(f"oci://{self.registry.host}/wg/chain-tag:v1",
                            sha256=self.digest[len("sha256:"):])
        self.assertEqual(self.chain(p), "oci")

    def test_wrong_sha256_denies(self):
        p = self.start_with(f"oci://{self.registry.host}/wg/chain-tag:v1", sha256="1" * 64)
        status, _, body = p.request("GET", "/")
        self.assertEqual((status, body), (403, b"RBAC: access denied\n"))
        self.assertIn("mismatch", p.log())

    def pull(self, *args):
        cache = tempfile.mkdtemp(prefix="wasmgate-cache-")
        self.addCleanup(shutil.rmtree, cache, True)
        r = subprocess.run([WASMGATE, "pull", *args, "--cache-dir", cache, "--timeout-ms", "5000"],
                           capture_output=True, text=True, timeout=30)
        return r, cache

    def test_compat_variant_pushed_with_skopeo(self):
        with open(plugin_path("chain_tag"), "rb") as f:
            module = f.read()
        digest = self.registry.push_compat_image_with_skopeo("wg/compat", "v1", module,
                                                             path="./plugin.wasm")
        p = self.start_with(f"oci://{self.registry.host}/wg/compat:v1",
                            sha256=digest[len("sha256:"):])
        self.assertEqual(self.chain(p), "oci")

    def test_oci_variant_pushed_with_skopeo_pulls_back(self):
        # skopeo copies what `wasmgate push` published to another repository;
        # the proxy serves the copy.
        r = subprocess.run([WASMGATE, "push", plugin_path("chain_tag"),
                            f"oci://{self.registry.host}/wg/src:v1", "--insecure"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                        "--dest-tls-verify=false", f"docker://{self.registry.host}/wg/src:v1",
                        f"docker://{self.registry.host}/wg/copied:v2"],
                       check=True, capture_output=True, timeout=60)
        p = self.start_with(f"oci://{self.registry.host}/wg/copied:v2")
        self.assertEqual(self.chain(p), "oci")

    def restart_without_registry(self, repo, tag):
        """Serves repo:tag from a registry of its own, stops the proxy and the
        registry, and starts the proxy again on the same cache: returns it."""
        from registry import Registry
        reg = Registry()
        self.addCleanup(reg.stop)
        with open(plugin_path("chain_tag"), "rb") as f:
            reg.push_wasm_image(repo, tag, f.read())
        cache = tempfile.mkdtemp(prefix="wasmgate-cache-")
        self.addCleanup(shutil.rmtree, cache, True)
        url = f"oci://{reg.host}/{repo}:{tag}"

        def start():
            return self.start_proxy(
                routes=[route_to("up")], clusters={"up": [self.up.address]}, cache_dir=cache,
                extra={"plugins": {"insecure_registries": [reg.host], "fetch_timeout_ms": 2000}},
                plugins=[manifest("oci", url, config={"tag": "oci"})])

        p = start()
        self.assertEqual(self.chain(p), "oci")
        p.stop()
        reg.stop()
        return start()

    def test_registry_down_after_first_pull(self):
        # The tag resolved before; IfNotPresent serves the cached module.
        p = self.restart_without_registry("wg/once", "v1")
        self.assertEqual(self.chain(p), "oci")

    def test_always_with_the_registry_down_serves_the_cached_module(self):
        # :latest means Always (Istio's defaulting): every load fetches. With
        # the registry gone, the last copy of the tag serves, with a warning,
        # instead of denying all traffic as Istio does.
        p = self.restart_without_registry("wg/moving", "latest")
        self.assertEqual(self.chain(p), "oci")
        self.assertIn("serving the module this URL resolved to last time", p.log())
        text = p.admin("/stats/prometheus")[2].decode()
        self.assertRegex(text, r'wasmgate_wasm_remote_fetches_total\{result="(download|manifest)'
                               r'_failure"\} 1')

    def test_https_registry(self):
        from registry import Registry
        reg = Registry(tls=True)
        self.addCleanup(reg.stop)
        with open(plugin_path("chain_tag"), "rb") as f:
            reg.push_wasm_image("wg/tls", "v1", f.read())
        url = f"oci://{reg.host}/wg/tls:v1"

        def start(insecure):
            return self.start_proxy(
                routes=[route_to("up")], clusters={"up": [self.up.address]},
                extra={"plugins": {"insecure_registries": [reg.host] if insecure else [],
                                   "fetch_timeout_ms": 3000}},
                plugins=[manifest("oci", url, config={"tag": "oci"}, failStrategy="FAIL_OPEN")])

        # A self-signed certificate: refused unless the registry is listed.
        p = start(False)
        self.assertIsNone(self.chain(p))
        self.assertIn("certificate", p.log())
        p.stop()
        p = start(True)
        self.assertEqual(self.chain(p), "oci")

    def test_pull_command(self):
        with open(plugin_path("chain_tag"), "rb") as f:
            module = f.read()
        url = f"oci://{self.registry.host}/wg/chain-tag:v1"
        r, cache = self.pull(url, "--insecure")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = dict(line.split(" ", 1) for line in r.stdout.splitlines()[1:])
        self.assertEqual(r.stdout.splitlines()[0], "sha256:" + hashlib.sha256(module).hexdigest())
        self.assertEqual(lines["manifest:"], self.digest)
        with open(lines["path:"], "rb") as f:
            self.assertEqual(f.read(), module)
        # By digest, a second pull into the same cache needs no fetch.
        r2 = subprocess.run([WASMGATE, "pull", f"oci://{self.registry.host}/wg/chain-tag@"
                             f"{self.digest}", "--cache-dir", cache],
                            capture_output=True, text=True, timeout=30)
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertIn("(already cached)", r2.stdout)
        # Not a terminal: one plain line per download (manifest, then blob).
        fetching = [l for l in r.stderr.splitlines() if l.startswith("fetching ")]
        self.assertEqual(len(fetching), 2, r.stderr)
        self.assertIn("/manifests/v1", fetching[0])
        self.assertIn("/blobs/sha256:", fetching[1])

    def test_pull_progress_bar_on_a_terminal(self):
        import pty
        url = f"oci://{self.registry.host}/wg/chain-tag:v1"
        cache = tempfile.mkdtemp(prefix="wasmgate-cache-")
        self.addCleanup(shutil.rmtree, cache, True)
        master, slave = pty.openpty()
        try:
            r = subprocess.run([WASMGATE, "pull", url, "--insecure", "--cache-dir", cache],
                               stdout=subprocess.PIPE, stderr=slave, timeout=30)
            os.close(slave)
            out = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the other side is closed
                    break
                if not chunk:
                    break
                out += chunk
        finally:
            os.close(master)
        self.assertEqual(r.returncode, 0, out)
        text = out.decode()
        size = os.path.getsize(plugin_path("chain_tag"))
        # A bar redrawn in place, full at the end of the module's blob.
        self.assertIn("\r", text)
        self.assertRegex(text, r"blobs/sha256:[0-9a-f]+\S* \[#{30}\] ")
        self.assertIn(f" / {size / 1024:.1f} KiB", text)
        self.assertNotIn("fetching ", text)

    def test_push_then_serve(self):
        r = subprocess.run([WASMGATE, "push", plugin_path("chain_tag"),
                            f"oci://{self.registry.host}/wg/pushed:v1", "--insecure"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        digest = r.stdout.strip()
        self.assertRegex(digest, r"^sha256:[0-9a-f]{64}$")
        p = self.start_with(f"oci://{self.registry.host}/wg/pushed:v1",
                            sha256=digest[len("sha256:"):])
        self.assertEqual(self.chain(p), "oci")

    def test_push_refuses_a_broken_module(self):
        bad = os.path.join(tempfile.mkdtemp(prefix="wasmgate-push-"), "bad.wasm")
        self.addCleanup(shutil.rmtree, os.path.dirname(bad), True)
        with open(bad, "wb") as f:
            f.write(b"\0asm\x01\0\0\0\x01")
        r = subprocess.run([WASMGATE, "push", bad, f"oci://{self.registry.host}/wg/bad:v1",
                            "--insecure"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a valid WebAssembly module", r.stderr)

    def test_pull_needs_insecure_for_plain_http(self):
        r, _ = self.pull(f"oci://{self.registry.host}/wg/chain-tag:v1")
        self.assertEqual(r.returncode, 1)
        self.assertIn(self.registry.host, r.stderr)
        self.assertIn("insecure", r.stderr)

    def test_pull_usage_errors(self):
        r, _ = self.pull("file:///tmp/x.wasm")
        self.assertEqual(r.returncode, 2)
        self.assertIn("nothing to pull", r.stderr)
        r, _ = self.pull("registry:5000/mod:tag")
        self.assertEqual(r.returncode, 2)
        self.assertIn("oci://", r.stderr)

    def test_unknown_tag_names_the_reference(self):
        p = self.start_with(f"oci://{self.registry.host}/wg/chain-tag:nope",
                            failStrategy="FAIL_OPEN")
        self.assertIsNone(self.chain(p))
        self.assertIn("chain-tag", p.log())


if __name__ == "__main__":
    main()
