#!/usr/bin/env python3
"""Acceptance tests of the Proxy-Wasm host through `wasmgate plugin run`.

Each test runs one simulated stream through a real plugin (C plugins from
tests/plugins, AssemblyScript plugins built with @solo-io/proxy-runtime from
tests/plugins-as) and checks the JSON the runner prints. Plugins check many
hostcall results themselves and log "ASSERT FAILED: ..." when one is off;
every run here also requires that no such line appears.

Environment: WASMGATE (the binary), PLUGIN_DIR (C plugins), AS_PLUGIN_DIR
(AssemblyScript plugins). `make test` builds both plugin sets first.
"""
import json
import os
import subprocess
import unittest

WASMGATE = os.environ.get("WASMGATE", "build/wasmgate")
PLUGIN_DIR = os.environ.get("PLUGIN_DIR", "build/plugins")
AS_PLUGIN_DIR = os.environ.get("AS_PLUGIN_DIR", "build/plugins-as")


def run(plugin, *args, rc=0, plugin_dir=None):
    path = os.path.join(plugin_dir or PLUGIN_DIR, plugin + ".wasm")
    if not os.path.exists(path):
        raise AssertionError(f"{path} is missing: run `make plugins` first")
    p = subprocess.run([WASMGATE, "plugin", "run", path, *args], capture_output=True,
                       text=True, timeout=120)
    if p.returncode != rc:
        raise AssertionError(f"{plugin} {args}: exit {p.returncode}, wanted {rc}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    try:
        out = json.loads(p.stdout)
    except ValueError as e:
        raise AssertionError(f"{plugin}: output is not JSON ({e}): {p.stdout!r}")
    failed = [l["message"] for l in out["logs"] if "ASSERT FAILED" in l["message"]]
    if failed:
        raise AssertionError(f"{plugin} {args}: the plugin reported:\n" + "\n".join(failed))
    out["stderr"] = p.stderr
    return out


def run_as(plugin, *args, rc=0):
    return run(plugin, *args, rc=rc, plugin_dir=AS_PLUGIN_DIR)


def header(headers, name):
    """The first value of `name` in a [[name, value], ...] list, or None."""
    for k, v in headers:
        if k == name:
            return v
    return None


def messages(out, prefix=""):
    return [l["message"] for l in out["logs"] if l["message"].startswith(prefix)]


class OutputShape(unittest.TestCase):
    def test_fields(self):
        out = run("add_header")
        for key in ("abi_version", "request", "response", "local_reply", "http_calls", "logs",
                    "metrics", "trap"):
            self.assertIn(key, out)
        self.assertEqual(out["abi_version"], "0.2.1")
        self.assertFalse(out["local_reply"])
        self.assertIsNone(out["trap"])
        self.assertEqual(out["response"]["status"], 200)

    def test_usage_errors(self):
        p = subprocess.run([WASMGATE, "plugin", "run"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        p = subprocess.run([WASMGATE, "plugin", "run", "x.wasm", "--bogus"], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 2)

    def test_not_a_plugin(self):
        path = os.path.join(PLUGIN_DIR, "not-a-plugin.txt")
        with open(path, "w") as f:
            f.write("this is not WebAssembly\n")
        p = subprocess.run([WASMGATE, "plugin", "run", path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("error", json.loads(p.stdout))
        self.assertIn("magic", p.stderr)


class CPlugins(unittest.TestCase):
    def test_add_header_with_config(self):
        out = run("add_header", "--config", '{"value":"from-config"}', "-H", "X-In: 1")
        req = out["request"]["headers"]
        self.assertEqual(header(req, "x-wasmgate"), "from-config")
        self.assertEqual(header(req, "x-in"), "1")
        self.assertEqual(header(req, ":path"), "/")
        self.assertEqual(header(out["response"]["headers"], "x-plugin"), "add_header")

    def test_lifecycle_order(self):
        out = run("lifecycle", "--config", "hi", "--body", "abc", "--response-body", "xyz")
        cbs = [m.split()[1] for m in messages(out, "cb ")]
        self.assertEqual(cbs, [
            "on_context_create", "on_vm_start", "on_configure", "on_context_create",
            "on_request_headers", "on_request_body", "on_response_headers", "on_response_body",
            "on_log", "on_done", "on_delete", "on_done", "on_delete"])
        self.assertIn("cb on_context_create 1 0", messages(out))
        self.assertIn("cb on_context_create 2 1", messages(out))
        self.assertIn("plugin_config size=2 value=hi", messages(out))
        self.assertIn("cb on_request_body 2 3 1", messages(out))

    def test_configure_rejected(self):
        out = run("lifecycle", "--config", "reject", rc=1)
        self.assertIn("on_configure", out["error"])
        out = run("bad_configure", rc=1)
        self.assertIn("configuration rejected", out["error"])

    def test_headers_semantics(self):
        out = run("headers", "-H", "x-remove-me: 1", "--response-header", "x-remove-me: 2")
        req = out["request"]["headers"]
        self.assertEqual(header(req, "x-foo"), "1")
        self.assertEqual(header(req, "x-replaced-new"), "n")
        self.assertEqual(header(req, "x-empty"), "")
        self.assertEqual(header(req, "x-set-pairs"), "yes")
        self.assertIsNone(header(req, "x-remove-me"))
        resp = out["response"]["headers"]
        self.assertEqual(header(resp, "x-resp-added"), "1")
        self.assertEqual(header(resp, "x-resp-replaced"), "r")
        self.assertIsNone(header(resp, "x-remove-me"))

    def test_body_buffering_and_rewrite(self):
        out = run("body", "--body", "hello", "--response-body", "world")
        self.assertEqual(out["request"]["body"], "req-prefix|HELLO|req-suffix")
        self.assertEqual(out["response"]["body"], "resp-prefix|WORLD|resp-suffix")

    def test_local_reply(self):
        out = run("local_reply", "-H", "x-deny: yes")
        self.assertTrue(out["local_reply"])
        self.assertIsNone(out["request"])
        self.assertEqual(out["response"]["status"], 403)
        self.assertEqual(out["response"]["body"], "denied\n")
        self.assertEqual(header(out["response"]["headers"], "x-denied-by"), "wasmgate")

    def test_local_reply_from_tick_after_pause(self):
        out = run("local_reply", "--path", "/pause-then-reply")
        self.assertTrue(out["local_reply"])
        self.assertEqual(out["response"]["status"], 200)
        self.assertEqual(out["response"]["body"], "replied from tick\n")

    def test_resume_from_tick(self):
        out = run("local_reply", "--path", "/pause-then-continue")
        self.assertFalse(out["local_reply"])
        self.assertIsNotNone(out["request"])
        out = run("local_reply", "-H", "x-pause-response: 1")
        self.assertEqual(out["response"]["status"], 200)

    def test_http_call_allowed(self):
        out = run("http_call", "--cluster", "auth", "--http-call-status", "200",
                  "--http-call-body", "alice")
        self.assertEqual(len(out["http_calls"]), 1)
        call = out["http_calls"][0]
        self.assertEqual(call["cluster"], "auth")
        self.assertEqual(call["body"], "ping")
        self.assertEqual(header(call["headers"], ":path"), "/check")
        self.assertEqual(header(out["request"]["headers"], "x-auth"), "alice")

    def test_http_call_denied_and_failed(self):
        out = run("http_call", "--cluster", "auth", "--http-call-status", "401")
        self.assertEqual(out["response"]["status"], 403)
        out = run("http_call", "--cluster", "auth")
        self.assertEqual(out["response"]["status"], 503)
        self.assertEqual(out["response"]["body"], "auth unavailable\n")

    def test_shared_data_and_queue(self):
        out = run("shared", "--path", "/hello")
        self.assertEqual(header(out["response"]["headers"], "x-shared-counter"), "1")
        self.assertIn("shared dequeued /hello", messages(out))

    def test_metrics(self):
        out = run("metrics")
        got = {m["name"]: m for m in out["metrics"]}
        self.assertEqual(got["wasmgate_test_requests_total"]["type"], "counter")
        self.assertEqual(got["wasmgate_test_requests_total"]["value"], 1)
        self.assertEqual(got["my_plugin.active"]["type"], "gauge")
        self.assertEqual(got["my_plugin.last_set"]["value"], 7)
        self.assertEqual(got["latency_ms"]["type"], "histogram")

    def test_properties(self):
        out = run("properties", "-H", "x-prop: v", "--root-id", "my-root")
        msgs = messages(out, "prop ")
        self.assertIn("prop request.headers.x-prop = v", msgs)
        self.assertIn("prop request.protocol = HTTP/1.1", msgs)
        self.assertIn("prop plugin_root_id = my-root", msgs)
        self.assertIn("prop response.code = 200", msgs)

    def test_misc_wasi_ticks_and_done(self):
        out = run("misc", "--env", "PLUGIN_ENV=hello-env")
        msgs = messages(out)
        self.assertTrue(any("hello-env" in m for m in msgs), msgs)
        self.assertIn("misc proxy_done status=0", msgs)
        # WASI stdout and stderr reach the log at info and error.
        levels = {l["level"] for l in out["logs"]}
        self.assertIn("error", levels)

    def test_close_stream(self):
        out = run("misc", "-H", "x-close: 1")
        self.assertIsNone(out["request"])

    def test_abi_0_1_0(self):
        out = run("abi010", "--config", "cfg", "-H", "x-pause: 1")
        self.assertEqual(out["abi_version"], "0.1.0")
        self.assertEqual(header(out["request"]["headers"], "x-abi"), "0.1.0")
        self.assertIn("abi010 configuration size=3 value=cfg", messages(out))

    def test_no_abi_marker(self):
        out = run("noabi")
        self.assertEqual(out["abi_version"], "0.1.0")
        self.assertEqual(header(out["request"]["headers"], "x-noabi"), "1")


class Failures(unittest.TestCase):
    def test_trap_backtrace_with_lines(self):
        out = run("trap", "-H", "x-trap: unreachable", rc=1)
        trap = out["trap"]
        self.assertEqual(trap["function"], "proxy_on_request_headers")
        self.assertEqual(trap["message"], "unreachable")
        names = [f["function"] for f in trap["backtrace"]]
        self.assertEqual(names[:3], ["trap_do_unreachable", "trap_check_request",
                                     "proxy_on_request_headers"])
        self.assertTrue(trap["backtrace"][0]["file"].endswith("trap.c"))
        self.assertGreater(trap["backtrace"][0]["line"], 0)
        # FAIL_CLOSE: the client gets a 503.
        self.assertEqual(out["response"]["status"], 503)
        self.assertIn("Function: proxy_on_request_headers failed: unreachable", out["stderr"])
        self.assertIn("Proxy-Wasm plugin in-VM backtrace:", out["stderr"])

    def test_trap_kinds(self):
        for kind, message in (("div0", "integer divide by zero"),
                              ("oob", "out of bounds memory access"),
                              ("stack", "call stack exhausted")):
            out = run("trap", "-H", "x-trap: " + kind, rc=1)
            self.assertEqual(out["trap"]["message"], message, kind)

    def test_runaway_callback_is_stopped(self):
        for kind in ("spin", "calls", "hostcall"):
            out = run("loop", "-H", "x-loop: " + kind, rc=1)
            self.assertIn("execution time limit exceeded", out["trap"]["message"], kind)
            self.assertEqual(out["response"]["status"], 503)

    def test_memory_cap(self):
        out = run("oom", "-H", "x-oom: grow")
        self.assertTrue(any(m.startswith("oom grow failed pages=") for m in messages(out)))
        pages = int([m for m in messages(out) if m.startswith("oom grow failed")][0]
                    .split("=")[1])
        self.assertLessEqual(pages, 4096)  # 256 MiB default cap

    def test_fail_strategies(self):
        def statuses(policy):
            out = run("trap", "-H", "x-trap: 1", "--requests", "6", "--fail-strategy", policy,
                      rc=1)
            self.assertEqual(out["trap"]["message"], "unreachable")
            return [(s["plugin"], s["status"], s["trapped"], s["vm_reloads"])
                    for s in out["streams"]]

        # FAIL_CLOSE: the failed VM's stream and every later one get 503.
        self.assertEqual(statuses("FAIL_CLOSE"),
                         [("run", 503, True, 0)] + [("deny", 503, False, 0)] * 5)
        # FAIL_OPEN: the plugin steps aside; traffic flows without it.
        self.assertEqual(statuses("FAIL_OPEN"),
                         [("run", 200, True, 0)] + [("skip", 200, False, 0)] * 5)
        # FAIL_RELOAD: a fresh VM after a backoff (1 s, then 2 s: streams are
        # one simulated second apart); streams during the backoff are denied.
        self.assertEqual(statuses("FAIL_RELOAD"),
                         [("run", 503, True, 0), ("deny", 503, False, 0), ("run", 503, True, 1),
                          ("deny", 503, False, 1), ("deny", 503, False, 1),
                          ("run", 503, True, 2)])

    def test_healthy_plugin_over_many_requests(self):
        out = run("shared", "--requests", "5")
        self.assertEqual([s["status"] for s in out["streams"]], [200] * 5)
        self.assertEqual(header(out["response"]["headers"], "x-shared-counter"), "5")

    def test_no_trap_without_trigger(self):
        out = run("trap")
        self.assertIsNone(out["trap"])
        out = run("loop")
        self.assertIsNone(out["trap"])


class AssemblyScriptPlugins(unittest.TestCase):
    """Plugins built with a third-party SDK (@solo-io/proxy-runtime 0.1.8)."""

    def test_add_header(self):
        out = run_as("add_header", "--config", "as-value")
        self.assertEqual(out["abi_version"], "0.2.0")  # what proxy-runtime 0.1.8 exports
        self.assertEqual(header(out["request"]["headers"], "x-wasmgate-as"), "as-value")
        self.assertEqual(header(out["response"]["headers"], "x-plugin"), "as_add_header")

    def test_config_driven(self):
        out = run_as("config", "--config", '{"header":"x-cfg","value":"v1"}')
        self.assertEqual(header(out["request"]["headers"], "x-cfg"), "v1")
        out = run_as("config", "--config", "not json", rc=1)
        self.assertIn("on_configure", out["error"])

    def test_local_reply(self):
        out = run_as("local_reply", "-H", "x-deny: 1")
        self.assertTrue(out["local_reply"])
        self.assertEqual(out["response"]["status"], 403)
        self.assertEqual(out["response"]["body"], "denied by as\n")
        self.assertEqual(header(out["response"]["headers"], "x-denied-by"), "as_local_reply")
        out = run_as("local_reply")
        self.assertFalse(out["local_reply"])

    def test_body_rewrite(self):
        out = run_as("body_rewrite", "--body", "hello", "--response-body", "world")
        self.assertEqual(out["request"]["body"], "HELLO")
        self.assertEqual(out["response"]["body"], "as-rewritten: WORLD")

    def test_http_call(self):
        out = run_as("http_call", "--cluster", "auth", "--http-call-status", "200")
        self.assertEqual(out["http_calls"][0]["cluster"], "auth")
        self.assertEqual(header(out["request"]["headers"], "x-auth-status"), "200")
        out = run_as("http_call", "--cluster", "auth", "--http-call-status", "500")
        self.assertEqual(out["response"]["status"], 403)
        out = run_as("http_call", "--cluster", "auth")
        self.assertEqual(out["response"]["status"], 503)

    def test_shared(self):
        out = run_as("shared", "--path", "/q")
        self.assertEqual(header(out["request"]["headers"], "x-count"), "1")
        self.assertIn("as_shared: dequeued /q (total 1)", messages(out))

    def test_metrics(self):
        out = run_as("metrics")
        got = {m["name"]: m for m in out["metrics"]}
        self.assertEqual(got["as_requests_total"]["value"], 1)


if __name__ == "__main__":
    unittest.main(verbosity=1)
