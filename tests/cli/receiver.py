"""A tiny HTTP receiver on 127.0.0.1 for the tests: POST /inbox -> 202 and the body saved,
/down -> 503, /gone -> 404, /old -> 307 to /inbox. Usage: receiver.py PORT DIR"""
import http.server, os, sys

PORT, DIR = int(sys.argv[1]), sys.argv[2]
count = 0

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
        code = {"/inbox": 202, "/down": 503, "/gone": 404}.get(self.path, 404)
        if code == 202:
            count += 1
            with open(os.path.join(DIR, "msg-%d.json" % count), "wb") as f:
                f.write(body)
            with open(os.path.join(DIR, "msg-%d.type" % count), "w") as f:
                f.write(self.headers.get("Content-Type", ""))
        self.send_response(code); self.send_header("Content-Length", "0"); self.end_headers()

http.server.ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
