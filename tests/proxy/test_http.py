#!/usr/bin/env python3
"""HTTP/1.1 proxying through wasmgate (no plugins): framing both ways,
keep-alive and pipelining, HEAD/204/304, Expect: 100-continue, HTTP/1.0,
the headers the proxy adds, routing, load balancing and upstream failures."""
import hashlib
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ProxyTestCase, RawClient, closed_port, direct, header,  # noqa: E402
                     header_all, main, route_to)


def req(method, path, headers=(), body=b"", version="HTTP/1.1", host="test.local"):
    """Exact request bytes."""
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in headers]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body if isinstance(body, bytes) else body.encode())


class Forwarding(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = cls.start_class_upstream("up")
        cls.start_class_proxy(routes=[route_to("up")], clusters={"up": [cls.up.address]})

    def echo(self, r):
        self.assertEqual(r.status, 200, r)
        return json.loads(r.body)

    def test_get(self):
        status, h, body = self.proxy.request("GET", "/hello?x=1", headers={"x-test": "a b"})
        self.assertEqual(status, 200)
        self.assertEqual(h.get("x-upstream-name"), "up")
        e = json.loads(body)
        self.assertEqual(e["method"], "GET")
        self.assertEqual(e["path"], "/hello?x=1")
        self.assertEqual(header(e["headers"], "x-test"), "a b")
        self.assertEqual(header(e["headers"], "host"), f"127.0.0.1:{self.proxy.port}")

    def test_post_content_length(self):
        data = bytes(range(256)) * 40
        e = self.proxy.get_json("/post", method="POST", body=data,
                                headers={"content-type": "application/octet-stream"})
        self.assertEqual(e["method"], "POST")
        self.assertEqual(e["body"].encode("latin-1"), data)

    def test_post_chunked(self):
        c = self.proxy.conn()
        chunks = [b"first,", b"second,", b"x" * 10000, b"last"]
        c.request("POST", "/chunked-up", body=iter(chunks), encode_chunked=True,
                  headers={"transfer-encoding": "chunked"})
        r = c.getresponse()
        e = json.loads(r.read())
        c.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(e["body"].encode(), b"".join(chunks))

    def test_large_request_body(self):
        data = os.urandom(3 * 1024 * 1024)
        status, _, body = self.proxy.request("PUT", "/big", body=data, timeout=30)
        self.assertEqual(status, 200)
        e = json.loads(body)
        self.assertEqual(e["body_len"], len(data))
        self.assertEqual(e["body_sha256"], hashlib.sha256(data).hexdigest())

    def test_chunked_response(self):
        status, h, body = self.proxy.request("GET", "/chunked")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["path"], "/chunked")

    def test_large_response(self):
        n = 5 * 1024 * 1024 + 7
        status, h, body = self.proxy.request("GET", f"/large?bytes={n}", timeout=30)
        self.assertEqual(status, 200)
        self.assertEqual(len(body), n)
        self.assertEqual(body[:16], b"0123456789abcdef")
        self.assertEqual(body[-7:], b"0123456")

    def test_response_until_close(self):
        # The upstream ends its body by closing: the client still gets a
        # well-framed complete response.
        with RawClient(self.proxy.port) as c:
            c.send(req("GET", "/no-length"))
            r = c.read_final()
            self.assertEqual(json.loads(r.body)["path"], "/no-length")

    def test_headers_only(self):
        status, h, body = self.proxy.request("GET", "/headers-only")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertEqual(h.get("x-only"), "headers")

    def test_keep_alive(self):
        c = self.proxy.conn()
        try:
            c.request("GET", "/one")
            r = c.getresponse()
            self.assertEqual(json.loads(r.read())["path"], "/one")
            sock = c.sock
            self.assertIsNotNone(sock, "the proxy closed a keep-alive connection")
            c.request("POST", "/two", body=b"abc")
            r = c.getresponse()
            self.assertEqual(json.loads(r.read())["body"], "abc")
            self.assertIs(c.sock, sock, "a new connection was needed")
        finally:
            c.close()

    def test_pipelined(self):
        with RawClient(self.proxy.port) as c:
            c.send(req("GET", "/p1") + req("POST", "/p2", [("Content-Length", "5")], b"hello")
                   + req("GET", "/p3") + req("GET", "/chunked"))
            paths = []
            for _ in range(4):
                e = self.echo(c.read_final())
                paths.append(e["path"])
            self.assertEqual(paths, ["/p1", "/p2", "/p3", "/chunked"])

    def test_head(self):
        with RawClient(self.proxy.port) as c:
            c.send(req("HEAD", "/large?bytes=1000"))
            r = c.read_final("HEAD")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"")
            self.assertEqual(r.header("content-length"), "1000")
            # Nothing but the head came: the next response parses.
            c.send(req("GET", "/after-head"))
            self.assertEqual(self.echo(c.read_final())["path"], "/after-head")

    def test_204_and_304_have_no_body(self):
        for status in (204, 304):
            with RawClient(self.proxy.port) as c:
                c.send(req("GET", f"/status/{status}"))
                r = c.read_final()
                self.assertEqual(r.status, status)
                self.assertIsNone(r.header("transfer-encoding"))
                c.send(req("GET", "/after"))
                self.assertEqual(self.echo(c.read_final())["path"], "/after")

    def test_status_passes_through(self):
        for status in (201, 404, 418, 500, 503):
            s, _, body = self.proxy.request("GET", f"/status/{status}")
            self.assertEqual(s, status)
            self.assertEqual(json.loads(body)["path"], f"/status/{status}")

    def test_expect_100_continue(self):
        with RawClient(self.proxy.port) as c:
            c.send(req("POST", "/expect", [("Content-Length", "5"), ("Expect", "100-continue")]))
            r = c.read_response()
            self.assertEqual(r.status, 100, "no 100 Continue before the body was sent")
            c.send(b"hello")
            e = self.echo(c.read_final())
            self.assertEqual(e["body"], "hello")

    def test_connection_close(self):
        with RawClient(self.proxy.port) as c:
            c.send(req("GET", "/bye", [("Connection", "close")]))
            r = c.read_final()
            self.assertEqual(self.echo(r)["path"], "/bye")
            self.assertTrue(c.closed(), "the connection stayed open after Connection: close")

    def test_http10_client(self):
        with RawClient(self.proxy.port) as c:
            c.send(req("GET", "/old", version="HTTP/1.0"))
            r = c.read_final()
            self.assertIn(r.version, ("HTTP/1.0", "HTTP/1.1"))
            self.assertEqual(self.echo(r)["path"], "/old")
            self.assertTrue(c.closed(), "an HTTP/1.0 connection without keep-alive stayed open")

    def test_http10_client_gets_no_chunked(self):
        with RawClient(self.proxy.port) as c:
            c.send(req("GET", "/chunked", version="HTTP/1.0"))
            r = c.read_final()
            self.assertNotIn("chunked", (r.header("transfer-encoding") or ""))
            self.assertEqual(self.echo(r)["path"], "/chunked")

    def test_http10_keep_alive(self):
        with RawClient(self.proxy.port) as c:
            c.send(req("GET", "/ka1", [("Connection", "keep-alive")], version="HTTP/1.0"))
            r = c.read_final()
            self.assertEqual(self.echo(r)["path"], "/ka1")
            if r.header("content-length") is not None:
                c.send(req("GET", "/ka2", [("Connection", "keep-alive")], version="HTTP/1.0"))
                self.assertEqual(self.echo(c.read_final())["path"], "/ka2")

    def test_request_id_added(self):
        e = self.proxy.get_json("/rid")
        rid = header(e["headers"], "x-request-id")
        self.assertTrue(rid, "no x-request-id added")
        e2 = self.proxy.get_json("/rid")
        self.assertNotEqual(header(e2["headers"], "x-request-id"), rid)

    def test_request_id_kept(self):
        e = self.proxy.get_json("/rid", headers={"x-request-id": "my-id-123"})
        self.assertEqual(header_all(e["headers"], "x-request-id"), ["my-id-123"])

    def test_forwarded_for_added(self):
        e = self.proxy.get_json("/xff")
        xff = header(e["headers"], "x-forwarded-for")
        self.assertIsNotNone(xff, "no x-forwarded-for")
        self.assertIn("127.0.0.1", xff)

    def test_hop_by_hop_headers_not_forwarded(self):
        with RawClient(self.proxy.port) as c:
            c.send(req("GET", "/hop", [("Connection", "keep-alive, x-private"),
                                       ("X-Private", "secret"), ("Keep-Alive", "timeout=5"),
                                       ("X-Public", "ok")]))
            e = self.echo(c.read_final())
        names = [k for k, _ in e["headers"]]
        self.assertNotIn("x-private", names)
        self.assertNotIn("keep-alive", names)
        self.assertEqual(header(e["headers"], "x-public"), "ok")

    def test_many_connections(self):
        errors = []

        def worker(i):
            try:
                for j in range(5):
                    e = self.proxy.get_json(f"/c{i}/{j}")
                    if e["path"] != f"/c{i}/{j}":
                        errors.append(e["path"])
            except Exception as ex:  # noqa: BLE001
                errors.append(repr(ex))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])


class Routing(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = cls.start_class_upstream("a")
        cls.b = cls.start_class_upstream("b")
        cls.start_class_proxy(
            routes=[
                route_to("a", exact="/exact"),
                direct(200, "direct body\n", exact="/direct"),
                route_to("b", prefix="/", host="b.example"),
                route_to("b", prefix="/", host="*.wild.example"),
                route_to("a", prefix="/api/"),
                direct(404, "no route\n", prefix="/"),
            ],
            clusters={"a": [cls.a.address], "b": [cls.b.address]})

    def get(self, path, host=None):
        headers = {"host": host} if host else {}
        return self.proxy.request("GET", path, headers=headers)

    def test_exact(self):
        status, h, _ = self.get("/exact")
        self.assertEqual((status, h.get("x-upstream-name")), (200, "a"))
        status, _, body = self.get("/exact/more")
        self.assertEqual((status, body), (404, b"no route\n"))

    def test_exact_ignores_query(self):
        status, h, _ = self.get("/exact?q=1")
        self.assertEqual((status, h.get("x-upstream-name")), (200, "a"))

    def test_prefix(self):
        status, h, body = self.get("/api/users")
        self.assertEqual((status, h.get("x-upstream-name")), (200, "a"))
        self.assertEqual(json.loads(body)["path"], "/api/users")

    def test_host(self):
        status, h, _ = self.get("/api/users", host="b.example")
        self.assertEqual((status, h.get("x-upstream-name")), (200, "b"))
        status, h, _ = self.get("/x", host="B.Example")
        self.assertEqual((status, h.get("x-upstream-name")), (200, "b"))

    def test_host_wildcard(self):
        status, h, _ = self.get("/x", host="svc.wild.example")
        self.assertEqual((status, h.get("x-upstream-name")), (200, "b"))
        status, _, _ = self.get("/x", host="wild.example")
        self.assertEqual(status, 404)

    def test_direct_response(self):
        before = len(self.a.requests) + len(self.b.requests)
        status, h, body = self.get("/direct")
        self.assertEqual((status, body), (200, b"direct body\n"))
        self.assertEqual(len(self.a.requests) + len(self.b.requests), before)

    def test_no_route_falls_to_direct_404(self):
        status, _, body = self.get("/nothing/here")
        self.assertEqual((status, body), (404, b"no route\n"))


class LoadBalancing(ProxyTestCase):
    def test_round_robin(self):
        a = self.start_upstream("a")
        b = self.start_upstream("b")
        self.start_proxy(routes=[route_to("rr")], clusters={"rr": [a.address, b.address]})
        names = []
        for i in range(8):
            status, h, _ = self.proxy.request("GET", f"/rr{i}")
            self.assertEqual(status, 200)
            names.append(h.get("x-upstream-name"))
        self.assertEqual(names.count("a"), 4, names)
        self.assertEqual(names.count("b"), 4, names)

    def test_round_robin_skips_nothing_on_keep_alive(self):
        a = self.start_upstream("a")
        b = self.start_upstream("b")
        self.start_proxy(routes=[route_to("rr")], clusters={"rr": [a.address, b.address]})
        c = self.proxy.conn()
        seen = set()
        for i in range(6):
            c.request("GET", f"/ka{i}")
            r = c.getresponse()
            r.read()
            seen.add(r.getheader("x-upstream-name"))
        c.close()
        self.assertEqual(seen, {"a", "b"})


class UpstreamFailures(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = cls.start_class_upstream("up")
        cls.start_class_proxy(
            routes=[route_to("down", prefix="/down"), route_to("slow", prefix="/slow"),
                    route_to("up")],
            clusters={
                "down": {"endpoints": [f"127.0.0.1:{closed_port()}"], "connect_timeout_ms": 500},
                "slow": {"endpoints": [cls.up.address], "response_timeout_ms": 300},
                "up": [cls.up.address],
            })

    def test_upstream_down_503(self):
        status, _, _ = self.proxy.request("GET", "/down")
        self.assertEqual(status, 503)
        self.assertServing()

    def test_upstream_slow_504(self):
        t0 = time.monotonic()
        status, _, _ = self.proxy.request("GET", "/slow?ms=3000")
        elapsed = time.monotonic() - t0
        self.assertEqual(status, 504)
        self.assertLess(elapsed, 2.5, "the response timeout did not fire in time")
        self.assertServing()

    def test_upstream_fast_enough(self):
        status, _, _ = self.proxy.request("GET", "/slow?ms=50")
        self.assertEqual(status, 200)

    def test_upstream_closes_without_answer(self):
        status, _, _ = self.proxy.request("GET", "/close")
        self.assertIn(status, (502, 503))
        self.assertServing()

    def test_keep_alive_survives_upstream_error(self):
        c = self.proxy.conn()
        try:
            c.request("GET", "/down")
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 503)
            c.request("GET", "/fine")
            r = c.getresponse()
            self.assertEqual(json.loads(r.read())["path"], "/fine")
        except (http.client.RemoteDisconnected, ConnectionError):
            self.fail("the client connection was closed after an upstream error")
        finally:
            c.close()


if __name__ == "__main__":
    main()
