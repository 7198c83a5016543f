"""A tiny HTTP receiver on 127.0.0.1 for the tests: POST /inbox -> 202 and the body saved,
/slow -> the same after 0.4 s, /down -> 503, /gone -> 404, /old -> 307 to /inbox.
With GATE, a request to /slow first writes DIR/held-N (N counts them) and then waits until the
file GATE exists (at most 300 s): the test decides when the slow endpoint answers, so that
what it checks never depends on how fast the machine is.
Usage: receiver.py PORT DIR [GATE]"""
import http.server, os, sys, threading, time

PORT, DIR = int(sys.argv[1]), sys.argv[2]
GATE = sys.argv[3] if len(sys.argv) > 3 else None
count = 0
held = 0
lock = threading.Lock()

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        global count, held
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.path == "/old":
            self.send_response(307); self.send_header("Location", "/inbox"); self.send_header("Content-Length", "0")
            self.end_headers(); return
        if self.path == "/slow":
            if GATE:
                with lock:
                    held += 1
                    open(os.path.join(DIR, "held-%d" % held), "w").close()
                end = time.time() + 300
                while not os.path.exists(GATE) and time.time() < end:
                    time.sleep(0.05)
            time.sleep(0.4)
        code = {"/inbox": 202, "/slow": 202, "/down": 503, "/gone": 404}.get(self.path, 404)
        if code == 202:
            with lock:
                count += 1
                n = count
            with open(os.path.join(DIR, "msg-%d.type" % n), "w") as f:
                f.write(self.headers.get("Content-Type", ""))
            # the .json appears whole (rename) so that a test counting files never reads half of one
            with open(os.path.join(DIR, "msg-%d.json.tmp" % n), "wb") as f:
                f.write(body)
            os.rename(os.path.join(DIR, "msg-%d.json.tmp" % n), os.path.join(DIR, "msg-%d.json" % n))
        self.send_response(code); self.send_header("Content-Length", "0"); self.end_headers()

http.server.ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
