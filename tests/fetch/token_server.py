#!/usr/bin/env python3
"""A registry token service for tests/unit/test_oci.c (Bearer auth).

Usage: token_server.py DIR USER PASSWORD

Makes a self-signed RSA certificate (DIR/token.crt, the registry's
rootcertbundle) with openssl, prints its port on one line, then answers
GET /token?service=...&scope=... with {"token": JWT} (RS256, the certificate
in x5c, issuer "wg-issuer", audience the service, access to the scope's
repository) when the request carries Basic USER:PASSWORD, 401 otherwise.
Each token request's query is appended to DIR/token.log.
"""
import base64
import http.server
import json
import os
import subprocess
import sys
import time
import urllib.parse


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    d, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
    key, crt = os.path.join(d, "token.key"), os.path.join(d, "token.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=wg-token"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    der = subprocess.run(["openssl", "x509", "-in", crt, "-outform", "DER"], check=True,
                         stdout=subprocess.PIPE).stdout
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    want_auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def token(service, scope):
        now = int(time.time())
        access = []
        parts = scope.split(":")
        if len(parts) == 3 and parts[0] == "repository":
            access.append({"type": "repository", "name": parts[1],
                           "actions": parts[2].split(",")})
        claims = {"iss": "wg-issuer", "sub": user, "aud": service, "exp": now + 600,
                  "nbf": now - 10, "iat": now, "jti": str(now) + scope, "access": access}
        signing = (b64url(json.dumps(header).encode()) + "." +
                   b64url(json.dumps(claims).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                             check=True, stdout=subprocess.PIPE).stdout
        return signing + "." + b64url(sig)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            q = urllib.parse.parse_qs(url.query)
            with open(os.path.join(d, "token.log"), "a") as f:
                f.write(url.query + "\n")
            if url.path != "/token" or self.headers.get("Authorization") != want_auth:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.dumps({"token": token(q.get("service", [""])[0],
                                              q.get("scope", [""])[0])}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
