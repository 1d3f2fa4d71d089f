"""A Debian docker-registry on loopback for the proxy tests, and a pusher
of Wasm plugin images (the OCI-spec variant) over the distribution API."""

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request

from harness import free_port

WASM_CONFIG = "application/vnd.module.wasm.config.v1+json"
WASM_LAYER = "application/vnd.module.wasm.content.layer.v1+wasm"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """docker-registry on 127.0.0.1 (a free port), its storage in a
    temporary directory removed by stop(). Plain HTTP, or with tls=True
    HTTPS with a self-signed certificate made by openssl here. With
    auth=(user, password), every request needs htpasswd Basic credentials
    (the file made by apache2-utils' htpasswd)."""

    def __init__(self, tls=False, auth=None):
        self.dir = tempfile.mkdtemp(prefix="wasmgate-registry-")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.scheme = "https" if tls else "http"
        tls_cfg = ""
        context = None
        if tls:
            cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True, timeout=60)
            tls_cfg = f"  tls:\n    certificate: {cert}\n    key: {key}\n"
            import ssl
            context = ssl.create_default_context(cafile=cert)
        self.context = context
        self.auth = auth
        auth_cfg = ""
        if auth:
            htpasswd = os.path.join(self.dir, "htpasswd")
            subprocess.run(["htpasswd", "-Bbc", htpasswd, auth[0], auth[1]], check=True,
                           capture_output=True, timeout=60)
            auth_cfg = f"auth:\n  htpasswd:\n    realm: wasmgate-test\n    path: {htpasswd}\n"
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write("version: 0.1\n"
                    "log:\n  level: error\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.dir}/data\n"
                    f"http:\n  addr: {self.host}\n{tls_cfg}{auth_cfg}")
        self.proc = subprocess.Popen(["docker-registry", "serve", cfg],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self._authorized(f"{self.scheme}://{self.host}/v2/"),
                                       timeout=1, context=self.context).close()
                return
            except (OSError, urllib.error.URLError):
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("docker-registry did not start")

    def _authorized(self, url, data=None, method="GET"):
        req = urllib.request.Request(url, data=data, method=method)
        if self.auth:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        return req

    def docker_config(self):
        """The .dockerconfigjson text for this registry's credentials."""
        user, password = self.auth
        return json.dumps({"auths": {self.host: {"username": user, "password": password}}})

    def _request(self, method, url, data=None, content_type=None):
        req = self._authorized(url, data, method)
        if content_type:
            req.add_header("Content-Type", content_type)
        with urllib.request.urlopen(req, timeout=10, context=self.context) as r:
            return r.status, r.headers

    def push_blob(self, repo, data):
        digest = _digest(data)
        _, h = self._request("POST", f"{self.scheme}://{self.host}/v2/{repo}/blobs/uploads/")
        loc = h["Location"]
        if loc.startswith("/"):
            loc = f"{self.scheme}://{self.host}{loc}"
        sep = "&" if "?" in loc else "?"
        self._request("PUT", f"{loc}{sep}digest={digest}", data, "application/octet-stream")
        return digest

    def push_wasm_image(self, repo, tag, module):
        """Pushes module as an OCI-spec Wasm image; returns the manifest
        digest ("sha256:...")."""
        conf = b'{"type":"envoy_proxy","abiVersions":["v0-4d576"]}'
        cdig = self.push_blob(repo, conf)
        ldig = self.push_blob(repo, module)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": WASM_CONFIG, "digest": cdig, "size": len(conf)},
            "layers": [
                {"mediaType": WASM_CONFIG, "digest": cdig, "size": len(conf)},
                {"mediaType": WASM_LAYER, "digest": ldig, "size": len(module),
                 "annotations": {"org.opencontainers.image.title": "plugin.wasm"}},
            ]}).encode()
        self._request("PUT", f"{self.scheme}://{self.host}/v2/{repo}/manifests/{tag}", manifest,
                      OCI_MANIFEST)
        return _digest(manifest)

    def push_compat_image_with_skopeo(self, repo, tag, module, path="plugin.wasm"):
        """Builds the compat variant (a tar+gzip layer holding plugin.wasm,
        as docker or buildah would make it) as an OCI image layout and
        copies it into the registry with skopeo. Returns the manifest
        digest the registry serves."""
        layout = tempfile.mkdtemp(prefix="wasmgate-layout-", dir=self.dir)
        blobs = os.path.join(layout, "blobs", "sha256")
        os.makedirs(blobs)

        def blob(data):
            d = _digest(data)
            with open(os.path.join(blobs, d[len("sha256:"):]), "wb") as f:
                f.write(data)
            return {"digest": d, "size": len(data)}

        tar_bytes = io.BytesIO()
        with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.USTAR_FORMAT) as t:
            info = tarfile.TarInfo(path)
            info.size = len(module)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(module))
        tar_data = tar_bytes.getvalue()
        layer = blob(gzip.compress(tar_data, mtime=0))
        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
        config = blob(json.dumps({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [_digest(tar_data)]}}).encode())
        config["mediaType"] = "application/vnd.oci.image.config.v1+json"
        manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                    "config": config, "layers": [layer]}).encode())
        manifest["mediaType"] = OCI_MANIFEST
        with open(os.path.join(layout, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        with open(os.path.join(layout, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [manifest]}, f)
        subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                        f"oci:{layout}", f"docker://{self.host}/{repo}:{tag}"],
                       check=True, capture_output=True, timeout=60)
        out = subprocess.run(["skopeo", "inspect", "--tls-verify=false",
                              f"docker://{self.host}/{repo}:{tag}"],
                             check=True, capture_output=True, timeout=60)
        return json.loads(out.stdout)["Digest"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
