"""A local stand-in for the Hugging Face Hub, for the `iris pull` tests and bench.

Two threaded HTTP servers on 127.0.0.1: the "hub" (JSON API and resolve URLs)
and a "CDN" that LFS downloads are redirected to.  Both support Range and can
inject faults: a connection dropped at a byte offset, a corrupted byte, status
codes with Retry-After, a server that ignores Range, throttling.  Every request
is recorded (with its Authorization header, so tests can check where the token
went) and the bytes of file data sent are counted per file.

The servers are bounded (a fixed number of concurrent handlers) and stop by
themselves after `lifetime` seconds.

Used as a module by tests/integration/test_pull.py, and as a script by
bench/bench-pull.sh:  python3 hub_server.py --file PATH --repo ORG/NAME
"""
import argparse
import hashlib
import json
import os
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LFS_THRESHOLD = 10 * 1024
CHUNK = 64 * 1024


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class File:
    def __init__(self, name, data=None, path=None, sha256=None):
        self.name = name
        self.data = data
        self.path = path
        self.size = len(data) if data is not None else os.path.getsize(path)
        self.lfs = self.size > LFS_THRESHOLD or name.endswith((".safetensors", ".bin", ".gguf"))
        if self.lfs:
            if sha256 is None:
                h = hashlib.sha256()
                if data is not None:
                    h.update(data)
                else:
                    with open(path, "rb") as f:
                        for b in iter(lambda: f.read(1 << 22), b""):
                            h.update(b)
                sha256 = h.hexdigest()
            self.sha256 = sha256
            self.etag = sha256
            # The git blob of an LFS file is its pointer; any stable sha1 will do here.
            self.blob_id = hashlib.sha1(b"pointer " + sha256.encode()).hexdigest()
        else:
            self.sha256 = None
            self.blob_id = git_blob_sha1(data if data is not None else open(path, "rb").read())
            self.etag = self.blob_id

    def read(self, start, end):
        if self.data is not None:
            return self.data[start:end]
        with open(self.path, "rb") as f:
            f.seek(start)
            return f.read(end - start)

    def sibling(self):
        s = {"rfilename": self.name, "size": self.size, "blobId": self.blob_id}
        if self.lfs:
            s["lfs"] = {"sha256": self.sha256, "size": self.size, "pointerSize": 134}
        return s


class Repo:
    def __init__(self, repo_id, gated=False):
        self.id = repo_id
        self.gated = gated
        self.commits = {}   # sha -> {name: File}
        self.refs = {}      # branch -> sha
        self.extra_siblings = {}  # sha -> raw sibling dicts (e.g. unsafe names)


class Hub:
    def __init__(self, lifetime=180, max_handlers=32, token="hf_test_token_5ecret"):
        self.repos = {}
        self.token = token
        self.lock = threading.Lock()
        self.requests = []            # dicts: server, method, path, auth, range, status, time
        self.bytes_sent = {}          # file name -> bytes of file data written to sockets
        self.drop_at = {}             # file name -> absolute offset: close the connection there (once)
        self.corrupt_at = {}          # file name -> offset of a byte to flip (every time)
        self.status_queue = {}        # file name -> [(status, headers)] answered before the data
        self.ignore_range = set()     # file names whose Range requests get a 200 with everything
        self.stall_at = {}            # file name -> offset where the response goes silent (once)
        self.stall_seconds = 20
        self.throttle = 0             # bytes per second per response (0: unlimited)
        self.by_sha = {}              # sha256 -> File (CDN lookups)
        self.handlers = threading.BoundedSemaphore(max_handlers)
        self.hub = self._server(HubHandler)
        self.cdn = self._server(CdnHandler)
        self.lifetime = lifetime
        self._threads = []

    # ---- set-up
    def _server(self, handler):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        srv.daemon_threads = True
        srv.hub = self
        return srv

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.hub.server_address[1]

    @property
    def cdn_base(self):
        return "http://127.0.0.1:%d" % self.cdn.server_address[1]

    def add_commit(self, repo_id, files, revision="main", gated=False, extra_siblings=None):
        """files: {name: bytes or File}; returns the new commit's sha."""
        with self.lock:
            repo = self.repos.get(repo_id) or Repo(repo_id, gated)
            repo.gated = gated or repo.gated
            fs = {}
            for name, v in files.items():
                f = v if isinstance(v, File) else File(name, v)
                fs[name] = f
                if f.lfs:
                    self.by_sha[f.sha256] = f
            sha = hashlib.sha1(("%s %d %s" % (repo_id, len(repo.commits), sorted(fs))).encode()
                               + os.urandom(8)).hexdigest()
            repo.commits[sha] = fs
            repo.extra_siblings[sha] = extra_siblings or []
            repo.refs[revision] = sha
            self.repos[repo_id] = repo
            return sha

    def start(self):
        for srv in (self.hub, self.cdn):
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
            t.start()
            self._threads.append(t)
        stopper = threading.Timer(self.lifetime, self.stop)
        stopper.daemon = True
        stopper.start()
        self._stopper = stopper
        return self

    def stop(self):
        for srv in (self.hub, self.cdn):
            try:
                srv.shutdown()
                srv.server_close()
            except Exception:
                pass
        if getattr(self, "_stopper", None):
            self._stopper.cancel()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- observations
    def record(self, **kw):
        kw["time"] = time.monotonic()
        with self.lock:
            self.requests.append(kw)

    def sent(self, name):
        with self.lock:
            return self.bytes_sent.get(name, 0)

    def reset_stats(self):
        with self.lock:
            self.requests.clear()
            self.bytes_sent.clear()

    def data_requests(self, name=None):
        with self.lock:
            return [r for r in self.requests if r.get("file") and (name is None or r["file"] == name)
                    and r["method"] == "GET" and r["status"] in (200, 206)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):   # keep test output quiet
        pass

    @property
    def hubstate(self):
        return self.server.hub

    def handle(self):
        if not self.hubstate.handlers.acquire(timeout=5):
            return
        try:
            super().handle()
        except (ConnectionError, BrokenPipeError, socket.timeout):
            pass
        finally:
            self.hubstate.handlers.release()

    def reply(self, status, body=b"", headers=None, file=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.hubstate.record(server=self.kind, method=self.command, path=self.path, file=file,
                             auth=self.headers.get("Authorization"), range=self.headers.get("Range"),
                             status=status)

    def error(self, status, code, msg, file=None, headers=None):
        h = {"Content-Type": "application/json", "X-Error-Code": code}
        h.update(headers or {})
        self.reply(status, json.dumps({"error": msg}).encode(), h, file=file)

    def send_file(self, f, extra_headers):
        """Answers GET/HEAD for a file with Range support and the configured faults."""
        hub = self.hubstate
        size = f.size
        start, end, status = 0, size, 200
        rng = self.headers.get("Range")
        if rng and f.name not in hub.ignore_range:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or (m.group(1) == "" and m.group(2) == ""):
                return self.error(416, "RangeNotSatisfiable", "bad range", file=f.name)
            if m.group(1) == "":
                start, end = max(0, size - int(m.group(2))), size
            else:
                start = int(m.group(1))
                end = min(size, int(m.group(2)) + 1) if m.group(2) else size
            if start >= size or start >= end:
                return self.error(416, "RangeNotSatisfiable", "range outside the file", file=f.name,
                                  headers={"Content-Range": "bytes */%d" % size})
            status = 206
        self.send_response(status)
        for k, v in extra_headers.items():
            self.send_header(k, v)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, size))
        self.end_headers()
        hub.record(server=self.kind, method=self.command, path=self.path, file=f.name,
                   auth=self.headers.get("Authorization"), range=rng, status=status)
        if self.command == "HEAD":
            return
        with hub.lock:
            drop = hub.drop_at.get(f.name)
            if drop is not None and start <= drop < end:
                del hub.drop_at[f.name]
            else:
                drop = None
            corrupt = hub.corrupt_at.get(f.name)
            stall = hub.stall_at.get(f.name)
            if stall is not None and start <= stall < end:
                del hub.stall_at[f.name]
                drop = stall   # stop sending there, wait, then close
            else:
                stall = None
        throttle = hub.throttle
        if f.path and drop is None and corrupt is None and not throttle:
            # Fast path for big files: the kernel copies.
            self.wfile.flush()
            with open(f.path, "rb") as fh:
                off = start
                while off < end:
                    n = os.sendfile(self.connection.fileno(), fh.fileno(), off, min(end - off, 1 << 24))
                    if n <= 0:
                        break
                    off += n
                    with hub.lock:
                        hub.bytes_sent[f.name] = hub.bytes_sent.get(f.name, 0) + n
            return
        off = start
        t0 = time.monotonic()
        while off < end:
            stop = min(end, off + CHUNK)
            if drop is not None and stop > drop:
                stop = drop
            chunk = f.read(off, stop)
            if corrupt is not None and off <= corrupt < stop:
                b = bytearray(chunk)
                b[corrupt - off] ^= 0x5A
                chunk = bytes(b)
            if chunk:
                self.wfile.write(chunk)
                with hub.lock:
                    hub.bytes_sent[f.name] = hub.bytes_sent.get(f.name, 0) + len(chunk)
            off = stop
            if drop is not None and off >= drop:
                self.wfile.flush()
                if stall is not None:
                    time.sleep(hub.stall_seconds)
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if throttle:
                ahead = (off - start) / throttle - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)

    def pop_fault(self, name):
        with self.hubstate.lock:
            q = self.hubstate.status_queue.get(name)
            return q.pop(0) if q else None


class HubHandler(Handler):
    kind = "hub"

    def do_HEAD(self):
        self.do_GET()

    def find(self, repo_id, rev):
        repo = self.hubstate.repos.get(repo_id)
        if repo is None:
            return None, None, "RepoNotFound"
        sha = repo.refs.get(rev, rev if rev in repo.commits else None)
        if sha is None:
            return repo, None, "RevisionNotFound"
        return repo, sha, None

    def do_GET(self):
        hub = self.hubstate
        path = urlsplit(self.path).path
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/(.+)", path)
        if m:
            repo, sha, err = self.find(unquote(m.group(1)), unquote(m.group(2)))
            if err:
                return self.error(404, err, "%s not found" % err)
            siblings = [f.sibling() for f in repo.commits[sha].values()] + repo.extra_siblings[sha]
            body = json.dumps({"id": repo.id, "modelId": repo.id, "sha": sha, "gated": repo.gated,
                               "private": False, "siblings": siblings}).encode()
            return self.reply(200, body, {"Content-Type": "application/json"})
        m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if not m:
            return self.error(404, "NotFound", "no route")
        repo, sha, err = self.find(unquote(m.group(1)), unquote(m.group(2)))
        name = unquote(m.group(3))
        if err:
            return self.error(404, err, "%s not found" % err, file=name)
        if repo.gated and self.headers.get("Authorization") != "Bearer " + hub.token:
            return self.error(401, "GatedRepo", "Access to model %s is restricted." % repo.id, file=name)
        f = repo.commits[sha].get(name)
        if f is None:
            return self.error(404, "EntryNotFound", "%s not found" % name, file=name)
        fault = self.pop_fault(name)
        if fault:
            status, headers = fault
            return self.error(status, "Fault", "injected", file=name, headers=headers)
        headers = {"X-Repo-Commit": sha, "ETag": '"%s"' % f.blob_id}
        if f.lfs:
            headers.update({"X-Linked-Etag": '"%s"' % f.sha256, "X-Linked-Size": str(f.size),
                            "Location": "%s/blobs/%s?sig=%s" % (hub.cdn_base, f.sha256, sha[:8])})
            return self.reply(302, b"", headers, file=name)
        return self.send_file(f, headers)


class CdnHandler(Handler):
    kind = "cdn"

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        hub = self.hubstate
        m = re.fullmatch(r"/blobs/([0-9a-f]{64})", urlsplit(self.path).path)
        f = hub.by_sha.get(m.group(1)) if m else None
        if f is None:
            return self.error(404, "NotFound", "no such blob")
        fault = self.pop_fault("cdn:" + f.name)
        if fault:
            status, headers = fault
            return self.error(status, "Fault", "injected", file=f.name, headers=headers)
        return self.send_file(f, {"ETag": '"cdn-%s"' % f.sha256[:16]})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", required=True, help="file to serve as an LFS file")
    ap.add_argument("--sha256", help="its sha256 (computed when absent)")
    ap.add_argument("--repo", default="bench/model")
    ap.add_argument("--name", default="model.safetensors")
    ap.add_argument("--lifetime", type=float, default=900)
    ap.add_argument("--port-file", help="write 'ENDPOINT CDN_URL_OF_FILE' here when ready")
    a = ap.parse_args()
    hub = Hub(lifetime=a.lifetime)
    f = File(a.name, path=a.file, sha256=a.sha256)
    hub.add_commit(a.repo, {a.name: f})
    hub.start()
    line = "%s %s/blobs/%s\n" % (hub.endpoint, hub.cdn_base, f.sha256)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as fh:
            fh.write(line)
        os.rename(a.port_file + ".tmp", a.port_file)
    sys.stdout.write(line)
    sys.stdout.flush()
    end = time.monotonic() + a.lifetime
    while time.monotonic() < end:
        time.sleep(0.5)
    hub.stop()


if __name__ == "__main__":
    main()
