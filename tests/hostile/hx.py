"""Hostile peers for tests/hostile/*.sh (python3 stdlib only, 127.0.0.1 only). Every loop is
bounded in count and in time.

  hx.py forward GW NEXT INNER ID           print a routing/2.0/forward for the gateway (GW)
                                           to NEXT carrying the JWE in file INNER
  hx.py tarpit PORT SECONDS                accept connections and never answer
  hx.py redirect PORT LOCATION DIR         answer every request 307 -> LOCATION; one file
                                           DIR/hit-N per request
  hx.py post PORT FILE [TIMEOUT]           one POST of FILE; prints "STATUS SECONDS"
  hx.py trickle PORT N SECONDS             N connections announce a 10 MiB body and send one
                                           byte every 2 s for SECONDS; prints how many the
                                           gateway closed
  hx.py wsidle PORT N SECONDS              open N WebSockets and keep them idle; prints
                                           "open K" once they are up, then "closed M" lines
                                           whenever more get closed by the gateway; ends
                                           when all are closed or after SECONDS
  hx.py wsflood PORT FILE N SECONDS        one WebSocket sends FILE N times and never reads;
                                           prints "sent K closed yes|no code C"
  hx.py ws PORT [PROTOCOL [FILE]]          WebSocket handshake offering PROTOCOL ("" none), then
                                           FILE as one message if it was accepted; prints the
                                           status line and Sec-WebSocket-Protocol answer
"""
import base64, json, os, socket, struct, sys, threading, time

HOST = "127.0.0.1"


def forward(gw, nxt, inner, mid):
    msg = {"id": mid, "type": "https://didcomm.org/routing/2.0/forward", "to": [gw], "body": {"next": nxt},
           "attachments": [{"data": {"json": json.load(open(inner))}}]}
    print(json.dumps(msg))


def tarpit(port, seconds):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((HOST, port))
    srv.listen(128)
    srv.settimeout(0.5)
    keep = []
    end = time.time() + seconds
    while time.time() < end and len(keep) < 1000:
        try:
            c, _ = srv.accept()
            keep.append(c)
            print("accepted %d" % len(keep), flush=True)
        except socket.timeout:
            pass


def redirect(port, location, out):
    import http.server
    n = [0]
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            ln = int(self.headers.get("Content-Length", "0") or 0)
            self.rfile.read(min(ln, 1 << 20))
            with lock:
                n[0] += 1
                open(os.path.join(out, "hit-%d" % n[0]), "w").close()
            self.send_response(307)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST

    http.server.ThreadingHTTPServer((HOST, port), H).serve_forever()


def post(port, path, timeout):
    body = open(path, "rb").read()
    t0 = time.time()
    try:
        s = socket.create_connection((HOST, port), timeout=timeout)
        s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/didcomm-encrypted+json\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        resp = b""
        while b"\r\n" not in resp:
            chunk = s.recv(4096)
            if not chunk:
                break
            resp += chunk
        s.close()
        status = resp.split(b" ")[1].decode() if resp.startswith(b"HTTP/") else "none"
    except OSError as e:
        status = "error:" + type(e).__name__
    print("%s %.3f" % (status, time.time() - t0))


def trickle(port, n, seconds):
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection((HOST, port), timeout=5)
            s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/didcomm-encrypted+json\r\n"
                      b"Content-Length: 10485760\r\n\r\n{")
            s.setblocking(False)
            socks.append(s)
        except OSError:
            pass
    print("opened %d" % len(socks), flush=True)
    closed = set()
    end = time.time() + seconds
    while time.time() < end and len(closed) < len(socks):
        for i, s in enumerate(socks):
            if i in closed:
                continue
            try:
                s.send(b"a")
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
                continue
            try:
                if s.recv(4096) == b"":
                    closed.add(i)
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
        time.sleep(2)
    print("closed %d" % len(closed), flush=True)
    for s in socks:
        s.close()


def ws_handshake(port, proto=None, timeout=10):
    s = socket.create_connection((HOST, port), timeout=timeout)
    key = base64.b64encode(os.urandom(16))
    extra = b"Sec-WebSocket-Protocol: " + proto.encode() + b"\r\n" if proto else b""
    s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n" % (port, key, extra))
    resp = b""
    while b"\r\n\r\n" not in resp:
        chunk = s.recv(4096)
        if not chunk:
            break
        resp += chunk
    return s, resp


def wsidle(port, n, seconds):
    socks = []
    for _ in range(n):
        try:
            s, resp = ws_handshake(port)
            if b" 101 " in resp.split(b"\r\n")[0]:
                s.setblocking(False)
                socks.append(s)
            else:
                s.close()
        except OSError:
            pass
    print("open %d" % len(socks), flush=True)
    closed, last = set(), -1
    end = time.time() + seconds
    while time.time() < end and len(closed) < len(socks):
        for i, s in enumerate(socks):
            if i in closed:
                continue
            try:
                d = s.recv(4096)
                if d == b"" or d[:1] == b"\x88":  # EOF or a close frame
                    closed.add(i)
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
        if len(closed) != last:
            last = len(closed)
            print("closed %d" % last, flush=True)
        time.sleep(0.2)
    print("closed %d" % len(closed), flush=True)


def wsflood(port, path, n, seconds):
    data = open(path, "rb").read()
    s, resp = ws_handshake(port)
    if b" 101 " not in resp.split(b"\r\n")[0]:
        print("sent 0 closed yes code handshake-refused")
        return
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(2)
    key = os.urandom(4)
    masked = bytes(c ^ key[i % 4] for i, c in enumerate(data))
    ln = len(data)
    hdr = b"\x81" + (bytes([0x80 | ln]) if ln < 126 else bytes([0x80 | 126]) + struct.pack("!H", ln)) + key
    frame = hdr + masked
    sent, closed = 0, False
    end = time.time() + seconds
    batch = frame * 100
    while sent < n and time.time() < end:
        try:
            s.sendall(batch)
            sent += 100
        except socket.timeout:
            break  # the gateway stopped reading us: back-pressure
        except OSError:
            closed = True
            break
    # now read what the gateway sent, frame by frame (for at most 15 s): is there a close (1008)?
    code = "none"
    s.settimeout(3)
    end = time.time() + 15

    def need(k, buf):
        while len(buf) < k:
            if time.time() > end:
                raise TimeoutError
            d = s.recv(1 << 16)
            if not d:
                raise EOFError
            buf += d
        return buf

    buf = b""
    try:
        while True:
            buf = need(2, buf)
            op, ln = buf[0] & 0x0F, buf[1] & 0x7F
            h = 2
            if ln == 126:
                buf = need(4, buf); ln = struct.unpack("!H", buf[2:4])[0]; h = 4
            elif ln == 127:
                buf = need(10, buf); ln = struct.unpack("!Q", buf[2:10])[0]; h = 10
            buf = need(h + ln, buf)
            if op == 8:
                code = str(struct.unpack("!H", buf[h:h + 2])[0]) if ln >= 2 else "empty"
                closed = True
                break
            buf = buf[h + ln:]
    except EOFError:
        closed = True
    except (OSError, TimeoutError):
        pass
    print("sent %d closed %s code %s" % (sent, "yes" if closed else "no", code))


def ws(port, proto, path=None):
    try:
        s, resp = ws_handshake(port, proto)
    except OSError as e:
        print("error %s" % e)
        return
    lines = resp.split(b"\r\n")
    sp = [l for l in lines if l.lower().startswith(b"sec-websocket-protocol:")]
    print(lines[0].decode(errors="replace"), "|", sp[0].decode(errors="replace") if sp else "no-protocol")
    if path and b" 101 " in lines[0]:
        # one message as one masked text frame, then a close frame; wait for the server's close
        data = open(path, "rb").read()
        key = os.urandom(4)
        ln = len(data)
        hdr = b"\x81" + (bytes([0x80 | ln]) if ln < 126 else bytes([0x80 | 126]) + struct.pack("!H", ln)) + key
        ck = os.urandom(4)
        close = b"\x88\x82" + ck + bytes(c ^ ck[i % 4] for i, c in enumerate(struct.pack("!H", 1000)))
        s.sendall(hdr + bytes(c ^ key[i % 4] for i, c in enumerate(data)) + close)
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
    s.close()


def main(a):
    c = a[0]
    if c == "forward":
        forward(a[1], a[2], a[3], a[4])
    elif c == "tarpit":
        tarpit(int(a[1]), float(a[2]))
    elif c == "redirect":
        redirect(int(a[1]), a[2], a[3])
    elif c == "post":
        post(int(a[1]), a[2], float(a[3]) if len(a) > 3 else 30)
    elif c == "trickle":
        trickle(int(a[1]), int(a[2]), float(a[3]))
    elif c == "wsidle":
        wsidle(int(a[1]), int(a[2]), float(a[3]))
    elif c == "wsflood":
        wsflood(int(a[1]), a[2], int(a[3]), float(a[4]))
    elif c == "ws":
        ws(int(a[1]), a[2] if len(a) > 2 and a[2] else None, a[3] if len(a) > 3 else None)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
