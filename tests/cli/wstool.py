"""A minimal RFC 6455 WebSocket client and server (stdlib only) for the tests, 127.0.0.1 only.

  wstool.py serve PORT DIR
      accept connections; every message received is saved as DIR/msg-N.json
  wstool.py send URL [--expect N] [--wait S] [--out DIR] FILE...
      connect to ws://127.0.0.1:PORT/PATH, send each FILE as one text message on the same
      connection, then read N messages (replies) within S seconds (default 10) and save them
      as DIR/reply-N.json (or print them, one per line). Exit 0 when N arrived, 1 if not.
"""
import base64, hashlib, os, socket, struct, sys, threading, time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def read_frame(s):
    b0, b1 = recv_exact(s, 2)
    fin, op, masked, n = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(s, 8))[0]
    key = recv_exact(s, 4) if masked else None
    data = recv_exact(s, n)
    if key:
        data = bytes(c ^ key[i % 4] for i, c in enumerate(data))
    return bool(fin), op, data


def write_frame(s, op, data, mask):
    hdr = bytes([0x80 | op])
    n = len(data)
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr += bytes([mbit | n])
    elif n < 65536:
        hdr += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        hdr += bytes([mbit | 127]) + struct.pack("!Q", n)
    if mask:
        key = os.urandom(4)
        # bytes.translate cannot mask; do it in chunks of ints for speed on big frames
        m = int.from_bytes(key * ((n + 3) // 4), "big") if n else 0
        body = (int.from_bytes(data, "big") ^ (m >> (8 * ((4 - n % 4) % 4)))).to_bytes(n, "big") if n else b""
        hdr += key
        data = body
    s.sendall(hdr + data)


def read_message(s, mask_replies):
    """one whole message (text/binary), answering pings; None on close"""
    parts = b""
    while True:
        fin, op, data = read_frame(s)
        if op == 8:
            try:
                write_frame(s, 8, data[:2], mask_replies)
            except OSError:
                pass
            return None
        if op == 9:
            write_frame(s, 10, data, mask_replies)
            continue
        if op == 10:
            continue
        parts += data
        if fin:
            return parts


def serve(port, out):
    count = [0]
    lock = threading.Lock()

    def handle(c):
        try:
            req = b""
            while b"\r\n\r\n" not in req:
                chunk = c.recv(4096)
                if not chunk:
                    return
                req += chunk
            key = b""
            for line in req.split(b"\r\n"):
                if line.lower().startswith(b"sec-websocket-key:"):
                    key = line.split(b":", 1)[1].strip()
            acc = base64.b64encode(hashlib.sha1(key + GUID).digest())
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: " + acc + b"\r\n\r\n")
            while True:
                m = read_message(c, False)
                if m is None:
                    return
                with lock:
                    count[0] += 1
                    n = count[0]
                path = os.path.join(out, "msg-%d.json" % n)
                with open(path + ".tmp", "wb") as f:
                    f.write(m)
                os.rename(path + ".tmp", path)
        except (EOFError, OSError):
            pass
        finally:
            c.close()

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def send(url, files, expect, wait, out):
    assert url.startswith("ws://127.0.0.1:"), "loopback ws:// only"
    rest = url[len("ws://127.0.0.1:"):]
    port, _, path = rest.partition("/")
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=wait)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET /" + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1:" + port.encode() +
              b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
              b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    resp = b""
    while b"\r\n\r\n" not in resp:
        chunk = s.recv(4096)
        if not chunk:
            print("wstool: handshake refused", file=sys.stderr)
            return 1
        resp += chunk
    if b" 101 " not in resp.split(b"\r\n")[0]:
        print("wstool: handshake: %s" % resp.split(b"\r\n")[0].decode(errors="replace"), file=sys.stderr)
        return 1
    for f in files:
        with open(f, "rb") as fh:
            write_frame(s, 1, fh.read(), True)
    got = 0
    deadline = time.time() + wait
    try:
        while got < expect and time.time() < deadline:
            s.settimeout(max(0.1, deadline - time.time()))
            m = read_message(s, True)
            if m is None:
                break
            got += 1
            if out:
                with open(os.path.join(out, "reply-%d.json" % got), "wb") as fh:
                    fh.write(m)
            else:
                sys.stdout.write(m.decode(errors="replace") + "\n")
    except (socket.timeout, EOFError, OSError):
        pass
    try:
        write_frame(s, 8, struct.pack("!H", 1000), True)
        s.close()
    except OSError:
        pass
    if got < expect:
        print("wstool: %d of %d replies" % (got, expect), file=sys.stderr)
        return 1
    return 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "serve":
        serve(int(argv[1]), argv[2])
        return 0
    if len(argv) >= 2 and argv[0] == "send":
        url, expect, wait, out, files = argv[1], 0, 10.0, None, []
        i = 2
        while i < len(argv):
            if argv[i] == "--expect":
                expect = int(argv[i + 1]); i += 2
            elif argv[i] == "--wait":
                wait = float(argv[i + 1]); i += 2
            elif argv[i] == "--out":
                out = argv[i + 1]; i += 2
            else:
                files.append(argv[i]); i += 1
        return send(url, files, expect, wait, out)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
