#!/usr/bin/env python3
"""Hostile and malformed requests: each gets the right 4xx/5xx, the
connection is closed, nothing reaches the upstream, and the proxy keeps
serving."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ProxyTestCase, RawClient, main, raw_exchange, route_to  # noqa: E402

HEAD_TIMEOUT_MS = 700


class Hostile(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = cls.start_class_upstream("up")
        cls.start_class_proxy(
            routes=[route_to("up")], clusters={"up": [cls.up.address]},
            limits={"request_head_timeout_ms": HEAD_TIMEOUT_MS, "max_request_head_bytes": 4096,
                    "max_headers": 50})

    def reject(self, data, status, reaches_upstream=False):
        """Sends data; the proxy must answer `status` and close."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        before = len(self.up.requests)
        r, closed = raw_exchange(self.proxy.port, data)
        self.assertIsNotNone(r, f"no response to {data[:120]!r}")
        self.assertEqual(r.status, status, f"{data[:120]!r} -> {r}")
        self.assertTrue(closed, f"connection left open after {status} for {data[:120]!r}")
        if not reaches_upstream:
            self.assertEqual(len(self.up.requests), before, "a rejected request was forwarded")
        self.assertServing()
        return r

    def test_content_length_and_transfer_encoding(self):
        self.reject("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)

    def test_transfer_encoding_and_content_length(self):
        self.reject("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                    "Content-Length: 5\r\n\r\n0\r\n\r\n", 400)

    def test_two_content_lengths(self):
        self.reject("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n"
                    "\r\nhello!", 400)

    def test_two_identical_content_lengths(self):
        self.reject("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
                    "\r\nhello", 400)

    def test_content_length_list(self):
        self.reject("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", 400)

    def test_obs_fold(self):
        self.reject("GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n", 400)

    def test_bare_lf(self):
        self.reject("GET / HTTP/1.1\nHost: x\n\n", 400)

    def test_bare_lf_in_one_field(self):
        self.reject("GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n", 400)

    def test_invalid_header_name(self):
        self.reject("GET / HTTP/1.1\r\nHost: x\r\nX(bad): 1\r\n\r\n", 400)

    def test_space_before_colon(self):
        self.reject("GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n", 400)

    def test_control_character_in_value(self):
        self.reject(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400)

    def test_missing_host(self):
        self.reject("GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400)

    def test_two_hosts(self):
        self.reject("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)

    def test_huge_chunk_size(self):
        self.reject("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "FFFFFFFFFFFFFFFFFFFFFFFF\r\nabc\r\n", 400, reaches_upstream=True)

    def test_bad_chunk_framing(self):
        self.reject("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabcXY0\r\n\r\n", 400, reaches_upstream=True)

    def test_unknown_transfer_coding(self):
        self.reject("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                    501)

    def test_transfer_coding_without_chunked(self):
        # RFC 9112 6.3: a request whose final coding is not chunked: 400.
        self.reject("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400)

    def test_chunked_not_last(self):
        self.reject("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                    400)

    def test_unknown_method(self):
        self.reject("BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501)

    def test_http2_version(self):
        self.reject("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505)

    def test_garbage(self):
        self.reject(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, 400)

    def test_head_too_large(self):
        self.reject("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + "a" * 8000 + "\r\n\r\n", 431)

    def test_too_many_headers(self):
        fields = "".join(f"X-H{i}: {i}\r\n" for i in range(60))
        self.reject("GET / HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n", 431)

    def test_slowloris(self):
        with RawClient(self.proxy.port, timeout=5) as c:
            t0 = time.monotonic()
            c.send("GET / HTTP/1.1\r\nHost: x\r\n")
            # Trickle bytes without ever finishing the head.
            for _ in range(3):
                time.sleep(HEAD_TIMEOUT_MS / 4000.0)
                c.send("X-Slow: 1\r\n")
            r = c.read_response()
            elapsed = time.monotonic() - t0
            self.assertEqual(r.status, 408)
            self.assertGreaterEqual(elapsed, HEAD_TIMEOUT_MS / 1000.0 * 0.9)
            self.assertLess(elapsed, HEAD_TIMEOUT_MS / 1000.0 + 2.0)
            self.assertTrue(c.closed())
        self.assertServing()

    def test_idle_connection_with_nothing_sent(self):
        # A connection that sends nothing is closed by the head timeout too
        # (with 408 or silently).
        with RawClient(self.proxy.port, timeout=5) as c:
            self.assertTrue(c.closed(wait=HEAD_TIMEOUT_MS / 1000.0 + 2.0))
        self.assertServing()

    def test_error_after_good_request_on_same_connection(self):
        with RawClient(self.proxy.port) as c:
            c.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\nHost: x\n\n")
            r1 = c.read_final()
            self.assertEqual(r1.status, 200)
            r2 = c.read_final()
            self.assertEqual(r2.status, 400)
            self.assertTrue(c.closed())
        self.assertServing()

    def test_client_disconnects_mid_body(self):
        with RawClient(self.proxy.port) as c:
            c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + "a" * 1000)
        time.sleep(0.2)
        self.assertServing()

    def test_client_disconnects_mid_head(self):
        with RawClient(self.proxy.port) as c:
            c.send("GET / HTTP/1.1\r\nHost: x\r\nX-A")
        time.sleep(0.1)
        self.assertServing()


if __name__ == "__main__":
    main()
