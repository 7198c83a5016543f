"""A tiny HTTP receiver on 127.0.0.1 for the tests: POST /inbox -> 202 and the body saved,
/slow -> the same after 0.4 s, /down -> 503, /gone -> 404, /old -> 307 to /inbox.
Usage: receiver.py PORT DIR"""
import http.server, os, sys, threading, time

PORT, DIR = int(sys.argv[1]), sys.argv[2]
count = 0
lock = threading.Lock()

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        global count
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.path == "/old":
            self.send_response(307); self.send_header("Location", "/inbox"); self.send_header("Content-Length", "0")
            self.end_headers(); return
        if self.path == "/slow":
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
