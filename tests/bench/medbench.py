"""The mediator benchmark's driver (tests/bench/mediator.sh): one client registers R recipient
DIDs (each with the gateway's DID as its endpoint), a sender sends M messages spread over them
through the gateway (held for pickup), then the client picks everything up per recipient in
batches (delivery-request limit B with recipient_did, then messages-received), timed.
DIDComm through libdidcomm (ctypes, tests/integration/medagent.py's bindings).

  medbench.py LIB GWDID PORT DIR R M B      prints "load ..." and "pickup ..." lines"""
import ctypes, http.client, json, os, sys, threading, time, uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from medagent import Dc, ErrInfo  # noqa: E402

CM3 = "https://didcomm.org/coordinate-mediation/3.0/"
PU3 = "https://didcomm.org/messagepickup/3.0/"


class DidOpts(ctypes.Structure):
    _fields_ = [("method", ctypes.c_int), ("endpoints", ctypes.POINTER(ctypes.c_char_p)), ("n_endpoints", ctypes.c_size_t),
                ("routing_keys", ctypes.POINTER(ctypes.c_char_p)), ("n_routing_keys", ctypes.c_size_t)]


def new_did(dc, endpoint=None):
    ep = (ctypes.c_char_p * 1)(endpoint.encode()) if endpoint else None
    o = DidOpts(method=3, endpoints=ep, n_endpoints=1 if endpoint else 0)
    out, ei = ctypes.c_void_p(), ErrInfo()
    if dc.L.dc_did_new(ctypes.byref(o), dc.ks, ctypes.byref(out), ctypes.byref(ei)):
        raise RuntimeError(ei.msg.decode())
    s = ctypes.string_at(out.value).decode()
    dc.libc.free(out)
    return s


class Conn:
    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, body):
        for attempt in range(2):
            try:
                self.c.request("POST", "/", body, {"Content-Type": "application/didcomm-encrypted+json"})
                r = self.c.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        raise RuntimeError("POST failed twice")


def main():
    lib, gw, port, d, R, M, B = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], *map(int, sys.argv[5:8])
    dc = Dc(lib, [])
    client = new_did(dc, gw)
    recips = [new_did(dc, gw) for _ in range(R)]
    conn = Conn(port)

    def ask(typ, body):
        m = {"id": str(uuid.uuid4()), "type": typ, "from": client, "to": [gw], "body": body, "return_route": "all"}
        code, out = conn.post(dc.pack(m, gw, forward=False)[0])
        return code, dc.unpack(out) if out else None

    code, r = ask(CM3 + "mediate-request", {})
    assert r and r["type"].endswith("mediate-grant"), r
    for i in range(0, R, 200):
        code, r = ask(CM3 + "recipient-update", {"updates": [{"recipient_did": x, "action": "add"} for x in recips[i:i + 200]]})
        assert all(u["result"] == "success" for u in r["body"]["updated"]), r

    # the sender: a few threads (ctypes lets go of the GIL while libdidcomm packs), one keep-alive
    # connection each; alice's keys in a context of its own per thread
    sender = new_did(dc)
    secrets = os.path.join(d, "keys.json")
    ei = ErrInfo()
    if dc.L.dc_keystore_save_file(dc.ks, secrets.encode(), ctypes.byref(ei)):
        raise RuntimeError(ei.msg.decode())
    fails = [0]
    lock = threading.Lock()

    def send(k, n_threads):
        my = Dc(lib, [secrets])
        c = Conn(port)
        for i in range(k, M, n_threads):
            to = recips[i % R]
            m = {"id": "b-%d" % i, "type": "https://didcomm.org/basicmessage/2.0/message", "from": sender, "to": [to],
                 "body": {"content": "message %d" % i}}
            env, ep = my.pack(m, to)
            code, _ = c.post(env)
            if code != 202:
                with lock:
                    fails[0] += 1

    t0 = time.time()
    th = [threading.Thread(target=send, args=(k, 3)) for k in range(3)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    t1 = time.time()
    print("load %d messages for %d recipients in %.1f s (%.0f msgs/s through the gateway, %d not 202)" %
          (M, R, t1 - t0, M / (t1 - t0), fails[0]), flush=True)
    code, r = ask(PU3 + "status-request", {})
    print("status message_count %d total_bytes %d" % (r["body"]["message_count"], r["body"]["total_bytes"]), flush=True)

    # pickup: per recipient, batches of B, acknowledged
    got = 0
    t0 = time.time()
    for to in recips:
        while True:
            code, r = ask(PU3 + "delivery-request", {"limit": B, "recipient_did": to})
            if r["type"] != PU3 + "delivery":
                break
            ids = [a["id"] for a in r["attachments"]]
            got += len(ids)
            code, s = ask(PU3 + "messages-received", {"message_id_list": ids})
    t1 = time.time()
    code, r = ask(PU3 + "status-request", {})
    print("pickup %d messages in batches of %d in %.1f s: %.0f msgs/s (delivery-request + messages-received over HTTP, "
          "each authcrypted both ways); status after: %d" % (got, B, t1 - t0, got / (t1 - t0), r["body"]["message_count"]),
          flush=True)


if __name__ == "__main__":
    main()
