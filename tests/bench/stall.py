"""Does crypto stall the event loop? Probes the gateway's loop with requests it answers
itself (GET / -> 405, no worker involved) and with small forwards (worker + commit), first
idle, then while THREADS senders keep posting big forwards (megabytes of crypto each).
Prints probe latency percentiles side by side. 127.0.0.1 only.
Usage: stall.py PORT BIG_FILE SMALL_FILE SECONDS THREADS"""
import http.client, sys, threading, time

port, big_path, small_path, secs, nthreads = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
big = open(big_path, "rb").read()
small = open(small_path, "rb").read()
CT = {"Content-Type": "application/didcomm-encrypted+json"}


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else float("nan")


def probe(stop, out, post):
    """one request at a time on its own connection, every 5 ms"""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        t = time.perf_counter()
        if post:
            c.request("POST", "/", small, CT)
        else:
            c.request("GET", "/")
        r = c.getresponse(); r.read()
        if r.status == (202 if post else 405):
            out.append((time.perf_counter() - t) * 1000)
        time.sleep(0.005)


def loader(stop, stats):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while not stop.is_set():
        c.request("POST", "/", big, CT)
        r = c.getresponse(); r.read()
        with stats["lock"]:
            stats[r.status] = stats.get(r.status, 0) + 1


def phase(load):
    stop = threading.Event()
    g, p = [], []
    stats = {"lock": threading.Lock()}
    ts = [threading.Thread(target=loader, args=(stop, stats)) for _ in range(nthreads if load else 0)]
    for t in ts:
        t.start()
    time.sleep(0.3 if load else 0)
    t0 = time.time()
    prs = [threading.Thread(target=probe, args=(stop, g, False)), threading.Thread(target=probe, args=(stop, p, True))]
    for pr in prs:
        pr.start()
    time.sleep(secs)
    stop.set()
    for pr in prs:
        pr.join()
    for t in ts:
        t.join()
    el = time.time() - t0
    stats.pop("lock")
    return g, p, stats, el


gi, pi, _, _ = phase(False)
gl, pl, st, el = phase(True)
acc = st.get(202, 0)
print("stall: probes while %d senders post %.1f MiB forwards (accepted %d, %.1f MiB/s of envelopes opened and committed; other answers %s)"
      % (nthreads, len(big) / 1048576, acc, acc * len(big) / 1048576 / el, {k: v for k, v in st.items() if k != 202} or "none"))
print("  %-42s %10s %10s" % ("probe latency, ms", "idle", "loaded"))
rows = [("GET / (answered on the loop)", gi, gl), ("small forward -> 202 (worker + commit)", pi, pl)]
for name, a, b in rows:
    for lab, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
        print("  %-42s %10.2f %10.2f" % ("%s %s" % (name, lab), pct(a, q), pct(b, q)))
print("  %-42s %10s %10s" % ("probes (GET / small)", "%d/%d" % (len(gi), len(pi)), "%d/%d" % (len(gl), len(pl))))
