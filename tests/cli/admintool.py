"""Client side of the admin listener's test (tests/integration/10-admin.sh). Run with
/usr/bin/python3 (Debian's prometheus_client). Subcommands:
  metrics URL [TOKEN]          fetch and parse with prometheus_client's parser; print one
                               canonical line per sample: name{k="v",...} value (exit 1: not parsable)
  value FILE NAME [k=v ...]    from metrics' output: the value of that sample (0 when absent)
  raw PORT FILE                send FILE's bytes, print the status code the server answered
                               ("closed" when it closed without one) and the seconds it took
  slow PORT N                  open N connections, each sending half a request head; print how
                               many were closed within 1 s, and the seconds until the last one was
  png FILE                     check a PNG (signature, IHDR, pixel data that is not one colour)
  notify SOCKET OUT            collect sd_notify datagrams on SOCKET into OUT (one per line)"""
import os, socket, struct, sys, time, urllib.request, zlib


def fetch(url, token=None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=20) as r:
        return r.read().decode()


def metrics(url, token=None):
    from prometheus_client.parser import text_string_to_metric_families
    text = fetch(url, token)
    out = []
    for fam in text_string_to_metric_families(text):
        if not fam.documentation or not fam.type or fam.type == "unknown":
            raise SystemExit("family %s has no HELP or TYPE" % fam.name)
        for s in fam.samples:
            labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
            out.append("%s{%s} %r" % (s.name, labels, float(s.value)))
    print("\n".join(out))


def value(path, name, *kv):
    want = "%s{%s}" % (name, ",".join('%s="%s"' % tuple(x.split("=", 1)) for x in sorted(kv)))
    for line in open(path):
        k, _, v = line.rstrip("\n").rpartition(" ")
        if k == want:
            print(int(float(v)) if float(v).is_integer() else float(v))
            return
    print(0)


def raw(port, path):
    data = open(path, "rb").read()
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
    try:
        s.sendall(data)
    except OSError:
        pass
    got = b""
    try:
        while b"\r\n" not in got:
            b = s.recv(4096)
            if not b:
                break
            got += b
    except OSError:
        pass
    s.close()
    status = got.split(b" ")[1].decode() if got.startswith(b"HTTP/1.1 ") else "closed"
    print(status, "%.1f" % (time.time() - t0))


def slow(port, n):
    import selectors
    t0 = time.time()
    sel = selectors.DefaultSelector()
    for _ in range(int(n)):
        s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
        s.setblocking(False)
        try:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        except OSError:
            pass
        sel.register(s, selectors.EVENT_READ)
    quick, last, left = 0, 0.0, int(n)
    while left and time.time() - t0 < 60:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            try:
                if s.recv(4096):
                    continue
            except BlockingIOError:
                continue
            except OSError:
                pass
            took = time.time() - t0
            quick += took < 1.0
            last = max(last, took)
            sel.unregister(s)
            s.close()
            left -= 1
    print(quick, "%.1f" % last)


def png(path):
    d = open(path, "rb").read()
    if d[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit("not a PNG")
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(d):
        n, t = struct.unpack(">I4s", d[pos:pos + 8])
        body = d[pos + 8:pos + 8 + n]
        if t == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif t == b"IDAT":
            idat += body
        pos += 12 + n
    px = zlib.decompress(idat)
    distinct = len(set(px))
    if w < 100 or h < 100 or distinct < 16:
        raise SystemExit("PNG %dx%d with %d distinct byte values: empty" % (w, h, distinct))
    print("%dx%d %d" % (w, h, distinct))


def notify(sock, out):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock)
    with open(out, "a") as f:
        while True:
            m = s.recv(4096).decode(errors="replace")
            f.write(m.replace("\n", " ") + "\n")
            f.flush()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"metrics": metrics, "value": value, "raw": raw, "slow": slow, "png": png, "notify": notify}[cmd](*args)
