"""A mediated agent and a sender for tests/integration/11-mediator.sh: DIDComm through
libdidcomm (ctypes over build/release/libdidcomm.so), transports from the standard library
(HTTP POST with return_route all; WebSocket with tests/cli/wstool.py's framing).

  medagent.py LIB STATE CMD ARGS...    (STATE: a JSON file of names -> DIDs and secrets files)

Commands print "ok WHAT" or "FAIL WHAT: why" lines (the shell counts them); see main()."""
import base64, ctypes, json, os, socket, sys, time, urllib.error, urllib.request, uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cli"))
import wstool  # noqa: E402

CM3 = "https://didcomm.org/coordinate-mediation/3.0/"
CM2 = "https://didcomm.org/coordinate-mediation/2.0/"
PU3 = "https://didcomm.org/messagepickup/3.0/"


class PackOpts(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("to", ctypes.POINTER(ctypes.c_char_p)), ("n_to", ctypes.c_size_t),
                ("frm", ctypes.c_char_p), ("sign_from", ctypes.c_char_p), ("enc", ctypes.c_int),
                ("curve", ctypes.c_int), ("protect_sender", ctypes.c_bool), ("no_forward", ctypes.c_bool),
                ("service", ctypes.c_size_t), ("from_prior_issuer", ctypes.c_char_p), ("rotated_at", ctypes.c_int64)]


class Packed(ctypes.Structure):
    _fields_ = [("to", ctypes.c_void_p), ("endpoint", ctypes.c_char_p), ("msg", ctypes.c_char_p), ("len", ctypes.c_size_t)]


class PackResult(ctypes.Structure):
    _fields_ = [("items", ctypes.POINTER(Packed)), ("n", ctypes.c_size_t)]


class ErrInfo(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 256)]


class Dc:
    def __init__(self, lib, secrets):
        self.L = ctypes.CDLL(lib)
        self.libc = ctypes.CDLL(None)
        self.libc.free.argtypes = [ctypes.c_void_p]
        L = self.L
        assert L.dc_init() == 0
        self.res, self.ks, self.ctx = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        L.dc_resolver_new(ctypes.c_size_t(256), ctypes.byref(self.res))
        L.dc_keystore_new(ctypes.byref(self.ks))
        ei = ErrInfo()
        for f in secrets:
            t = open(f, "rb").read()
            if L.dc_keystore_load_text(self.ks, t, ctypes.c_size_t(len(t)), ctypes.byref(ei)):
                raise RuntimeError(ei.msg.decode())
        L.dc_ctx_new(self.res, self.ks, ctypes.byref(self.ctx))
        L.dc_unpack.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                                ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_void_p]

    def pack(self, msg, to, forward=True):
        """authcrypt from msg["from"] to `to`: (envelope bytes, endpoint)"""
        b = json.dumps(msg).encode()
        arr = (ctypes.c_char_p * 1)(to.encode())
        o = PackOpts(mode=4, to=arr, n_to=1, no_forward=not forward)
        r, ei = PackResult(), ErrInfo()
        if self.L.dc_pack(self.ctx, b, ctypes.c_size_t(len(b)), ctypes.byref(o), ctypes.byref(r), ctypes.byref(ei)):
            raise RuntimeError("pack: " + ei.msg.decode())
        it = r.items[0]
        env, ep = ctypes.string_at(it.msg, it.len), it.endpoint.decode() if it.endpoint else None
        self.L.dc_pack_result_clear(ctypes.byref(r))
        return env, ep

    def unpack(self, env):
        out, ei = ctypes.c_void_p(), ErrInfo()
        if self.L.dc_unpack(self.ctx, env, len(env), None, ctypes.byref(out), None, ctypes.byref(ei)):
            raise RuntimeError("unpack: " + ei.msg.decode())
        s = ctypes.string_at(out.value)
        self.libc.free(out)
        return json.loads(s)


def post(url, body, timeout=30):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/didcomm-encrypted+json",
                                                           "Expect": ""})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Ws:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (port, key)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            c = self.s.recv(4096)
            if not c:
                raise EOFError("handshake")
            buf += c
        assert b" 101 " in buf.split(b"\r\n")[0], buf[:100]

    def send(self, data):
        wstool.write_frame(self.s, 1, data, True)

    def recv(self, timeout=30):
        self.s.settimeout(timeout)
        data = b""
        while True:
            fin, op, d = wstool.read_frame(self.s)
            if op == 8:
                raise EOFError("closed")
            if op in (9, 10):
                continue
            data += d
            if fin:
                return data

    def cut(self):
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.s.close()


class Agent:
    """one DID with its secrets, talking to the gateway gw (DID) at port"""

    def __init__(self, dc, did, gw, port):
        self.dc, self.did, self.gw, self.port = dc, did, gw, port

    def msg(self, typ, body, **kw):
        m = {"id": str(uuid.uuid4()), "type": typ, "from": self.did, "to": [self.gw], "body": body,
             "return_route": "all"}
        m.update(kw)
        return m

    def http(self, m):
        env, _ = self.dc.pack(m, self.gw, forward=False)
        code, body = post("http://127.0.0.1:%d/" % self.port, env)
        if not body:
            return code, None
        try:
            return code, self.dc.unpack(body)
        except Exception:
            return code, json.loads(body)


def payloads(dc, delivery):
    """the attachments of a delivery: [(id, plaintext message)]"""
    out = []
    for a in delivery.get("attachments", []):
        d = a["data"]
        if "base64" in d:
            s = d["base64"]
            env = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
        else:
            env = json.dumps(d["json"]).encode()
        out.append((a["id"], dc.unpack(env)))
    return out


R = {"pass": 0, "fail": 0}


def ok(what):
    R["pass"] += 1
    print("ok " + what, flush=True)


def bad(what, why=""):
    R["fail"] += 1
    print("FAIL %s%s" % (what, ": " + str(why)[:400] if why else ""), flush=True)


def expect(cond, what, why=""):
    (ok if cond else bad)(what, *([] if cond else [why]))
    return cond


def main():
    lib, statef, cmd = sys.argv[1], sys.argv[2], sys.argv[3]
    args = sys.argv[4:]
    st = json.load(open(statef))
    dc = Dc(lib, st["secrets"])
    gw, port = st["gw"], int(st["port"])
    A = Agent(dc, st["agent"], gw, port)

    if cmd == "mediate":  # VERSION: mediate-request -> grant, recipient-update add -> success, query lists it
        v = int(args[0]) if args else 3
        base = CM3 if v == 3 else CM2
        if len(args) > 1:
            A = Agent(dc, st[args[1]], gw, port)
        code, r = A.http(A.msg(base + "mediate-request", {}))
        expect(code == 200 and r and r["type"] == base + "mediate-grant", "%d.0 mediate-request -> mediate-grant" % v,
               (code, r))
        rd = r["body"].get("routing_did") if r else None
        if v == 3:
            expect(rd == [gw], "3.0 grant: routing_did is an array naming the gateway's DID", rd)
        else:
            expect(rd == gw, "2.0 grant: routing_did is a string, the gateway's DID", rd)
        m = A.msg(base + ("recipient-update" if v == 3 else "keylist-update"),
                  {"updates": [{"recipient_did": A.did, "action": "add"}]})
        code, r = A.http(m)
        want = base + ("recipient-update-response" if v == 3 else "keylist-update-response")
        expect(code == 200 and r and r["type"] == want and r.get("thid") == m["id"] and
               r["body"]["updated"] == [{"recipient_did": A.did, "action": "add", "result": "success"}],
               "%d.0 recipient update -> success, thid = the request's id" % v, r)
        code, r = A.http(A.msg(base + ("recipient-query" if v == 3 else "keylist-query"),
                               {"paginate": {"limit": 10, "offset": 0}}))
        key = "dids" if v == 3 else "keys"
        expect(code == 200 and r and r["body"].get(key) == [{"recipient_did": A.did}] and
               r["body"].get("pagination") == {"count": 1, "offset": 0, "remaining": 0},
               "%d.0 query -> %s with pagination" % (v, key), r)

    elif cmd == "unregistered":  # a forward to a DID nobody registered goes to the rules (here: reject)
        S = Agent(dc, st["alice"], gw, port)
        m = {"id": "u-1", "type": "https://didcomm.org/basicmessage/2.0/message", "from": S.did, "to": [st["agent3"]],
             "body": {"content": "x"}}
        env, ep = dc.pack(m, st["agent3"])
        code, body = post(ep, env)
        expect(code == 403, "a forward for a DID not registered: the rules decide (reject: 403); a registered "
                            "one is held before them (the sends below)", code)

    elif cmd == "hostile":  # requests that break the protocols: a problem report each, the gateway keeps serving
        cases = [(PU3 + "delivery-request", {"limit": "10"}, "e.p.msg"),
                 (PU3 + "delivery-request", {"limit": 1e300, "recipient_did": 5}, "e.p.msg"),
                 (PU3 + "messages-received", {"message_id_list": [{"x": 1}]}, "e.p.msg"),
                 (PU3 + "live-delivery-change", {"live_delivery": "yes"}, "e.p.msg"),
                 (CM3 + "recipient-update", {"updates": [{"recipient_did": "did:ex:%d" % i, "action": "add"}
                                                         for i in range(300)]}, "e.p.msg.too-big"),
                 (CM3 + "recipient-update", {"updates": [{"recipient_did": "not a did", "action": "add"}]}, "e.p.msg"),
                 (PU3 + "live-delivery-change", {"live_delivery": True}, "e.m.live-mode-not-supported")]
        for typ, body, want in cases:
            code, r = A.http(A.msg(typ, body))
            expect(code in (400, 403, 413) and r and r["body"].get("code") == want,
                   "hostile %s %s: %d %s" % (typ.rsplit("/", 1)[1], json.dumps(body)[:40], code, want), (code, r))
        code, r = A.http(A.msg(PU3 + "status-request", {}, return_route="none"))
        expect(code in (400, 403) and r and r["body"]["code"] == "e.p.req.return-route-all",
               "pickup without return_route all: refused (a status is never queued)", (code, r))
        code, r = A.http(A.msg(PU3 + "status-request", {}))
        expect(code == 200 and r["type"] == PU3 + "status", "still serving", (code, r))

    elif cmd == "features":  # discover-features lists both coordinate-mediation versions and pickup 3.0
        code, r = A.http(A.msg("https://didcomm.org/discover-features/2.0/queries",
                               {"queries": [{"feature-type": "protocol", "match": "https://didcomm.org/*"}]}))
        ids = {d["id"]: d.get("roles") for d in r["body"]["disclosures"]} if r else {}
        expect(all(ids.get(p) == ["mediator"] for p in (CM3[:-1], CM2[:-1], PU3[:-1])),
               "discover-features: coordinate-mediation 3.0 and 2.0, messagepickup 3.0, role mediator", ids)

    elif cmd == "deny":  # a DID the policy does not allow: mediate-deny (3.0 and 2.0), then nothing else works
        X = Agent(dc, st["stranger2"], gw, port)
        for base in (CM3, CM2):
            m = X.msg(base + "mediate-request", {})
            code, r = X.http(m)
            expect(code == 200 and r and r["type"] == base + "mediate-deny" and r.get("thid") == m["id"],
                   "policy allow FILE: %s mediate-request from another DID -> mediate-deny" % base[-4:-1], (code, r))
        code, r = X.http(X.msg(CM3 + "recipient-update", {"updates": [{"recipient_did": X.did, "action": "add"}]}))
        expect(code == 403 and r and r["body"]["code"] == "e.p.trust.not-mediated", "denied: recipient-update refused",
               (code, r))
        m = A.msg(CM3 + "mediate-request", {})
        code, r = A.http(m)
        expect(r and r["type"] == CM3 + "mediate-grant", "policy allow FILE: the listed agent is granted", r)

    elif cmd in ("send", "sendto"):  # [NAME] N [TAG]: the sender (alice) sends N messages to the agent (or NAME)
        if cmd == "sendto":
            A = Agent(dc, st[args[0]], gw, port)
            args = args[1:]
        n, tag = int(args[0]), args[1] if len(args) > 1 else "m"
        S = Agent(dc, st["alice"], gw, port)
        fails = 0
        for i in range(n):
            m = {"id": "%s-%d" % (tag, i), "type": "https://didcomm.org/basicmessage/2.0/message", "from": S.did,
                 "to": [A.did], "body": {"content": "hello %d" % i}, "created_time": int(time.time())}
            env, ep = dc.pack(m, A.did)
            code, body = post(ep, env)
            fails += code != 202
        expect(fails == 0, "sender: %d messages to the agent, each 202 from the gateway" % n, "%d not 202" % fails)

    elif cmd == "status":  # WANT: status-request over HTTP shows WANT messages
        want = int(args[0])
        m = A.msg(PU3 + "status-request", {})
        code, r = A.http(m)
        expect(code == 200 and r and r["type"] == PU3 + "status" and r["body"].get("message_count") == want and
               r.get("thid") == m["id"], "status over HTTP: message_count %d" % want, (code, r))

    elif cmd == "pickup":  # N BATCH [ACK]: delivery-request in batches; every message once; acknowledged
        n, batch = int(args[0]), int(args[1])
        ack = not args[2:] or args[2] != "noack"
        seen, rounds, shapes = set(), 0, True
        while rounds < 4 * (n // batch + 2):
            rounds += 1
            m = A.msg(PU3 + "delivery-request", {"limit": batch})
            code, r = A.http(m)
            if not r or code != 200:
                bad("delivery-request", (code, r))
                break
            if r["type"] == PU3 + "status":
                break
            shapes &= r["type"] == PU3 + "delivery" and r.get("thid") == m["id"] and len(r["attachments"]) <= batch
            got = payloads(dc, r)
            for aid, p in got:
                seen.add(p["id"])
            if not ack:
                break
            code, s = A.http(A.msg(PU3 + "messages-received", {"message_id_list": [a for a, _ in got]}))
            shapes &= code == 200 and s and s["type"] == PU3 + "status"
        if ack:
            expect(shapes, "deliveries: type delivery, thid = request id, at most limit attachments; "
                           "messages-received answered with status")
            expect(len(seen) >= n, "picked up %d messages in batches of %d" % (n, batch), "%d seen" % len(seen))
        else:
            expect(len(seen) == min(n, batch), "one delivery of %d, not acknowledged" % min(n, batch), len(seen))

    elif cmd == "stranger":  # a DID with no mediation, then one with its own grant, ask for the agent's mail
        X = Agent(dc, st["stranger"], gw, port)
        for what, body in (("status-request", {"recipient_did": A.did}), ("delivery-request", {"limit": 10, "recipient_did": A.did}),
                           ("delivery-request", {"limit": 10}), ("messages-received", {"message_id_list": ["1", "2", "3"]})):
            code, r = X.http(X.msg(PU3 + what, body))
            txt = json.dumps(r)
            expect(code == 403 and r and r["type"].endswith("problem-report") and
                   r["body"]["code"] == "e.p.trust.not-mediated" and "message_count" not in txt,
                   "stranger %s %s: refused (403, e.p.trust.not-mediated), nothing revealed" % (what, list(body)), (code, r))
        code, r = X.http(X.msg(CM3 + "mediate-request", {}))
        expect(r and r["type"] == CM3 + "mediate-grant", "the stranger gets a grant of its own (policy open)", r)
        code, r = X.http(X.msg(PU3 + "status-request", {"recipient_did": A.did}))
        expect(code == 403 and r and r["body"]["code"] == "e.p.trust.not-mediated",
               "granted stranger asking for the agent's mailbox: refused", (code, r))
        code, r = X.http(X.msg(PU3 + "delivery-request", {"limit": 10}))
        expect(code == 200 and r and r["type"] == PU3 + "status" and r["body"]["message_count"] == 0,
               "granted stranger's own (empty) mailbox: status 0, none of the agent's", r)
        code, r = X.http(X.msg(CM3 + "recipient-update", {"updates": [{"recipient_did": A.did, "action": "add"},
                                                                      {"recipient_did": A.did, "action": "remove"}]}))
        expect(r and [u["result"] for u in r["body"]["updated"]] == ["client_error", "no_change"],
               "granted stranger cannot take over or remove the agent's DID", r)
        code, r = X.http(X.msg(CM3 + "recipient-update", {"updates": [{"recipient_did": st["foreign"], "action": "add"}]}))
        expect(r and [u["result"] for u in r["body"]["updated"]] == ["client_error"],
               "nor register a DID whose service sends its mail elsewhere (client_error)", r)

    elif cmd == "live":  # N: live mode over WS, N messages sent while connected arrive pushed; ack over WS
        n = int(args[0])
        import subprocess
        ws = Ws(port)
        m = A.msg(PU3 + "live-delivery-change", {"live_delivery": True})
        ws.send(dc.pack(m, gw, forward=False)[0])
        r = dc.unpack(ws.recv())
        expect(r["type"] == PU3 + "status" and r["body"]["live_delivery"] is True and r["thid"] == m["id"],
               "WS: live-delivery-change -> status with live_delivery true", r)
        p = subprocess.Popen([sys.executable, __file__, lib, statef, "send", str(n), "live"], stdout=subprocess.PIPE)
        seen, frames = set(), 0
        deadline = time.time() + 60
        while len(seen) < n and time.time() < deadline:
            d = dc.unpack(ws.recv(timeout=max(1, deadline - time.time())))
            if d["type"] != PU3 + "delivery":
                continue
            frames += 1
            got = payloads(dc, d)
            seen.update(x["id"] for _, x in got)
            last = A.msg(PU3 + "messages-received", {"message_id_list": [a for a, _ in got]})
            ws.send(dc.pack(last, gw, forward=False)[0])
        while len(seen) == n:  # the answer to the last acknowledgement, before the socket goes
            d = dc.unpack(ws.recv())
            if d.get("thid") == last["id"]:
                break
        out = p.communicate()[0].decode()
        sys.stdout.write(out)
        expect(len(seen) == n, "live: %d messages pushed as they arrived (%d delivery frames)" % (n, frames), len(seen))
        ws.cut()

    elif cmd == "livecut":  # N: live mode, N messages; the socket is cut after the first frame; reconnect: all there
        n = int(args[0])
        import subprocess
        ws = Ws(port)
        ws.send(dc.pack(A.msg(PU3 + "live-delivery-change", {"live_delivery": True}), gw, forward=False)[0])
        dc.unpack(ws.recv())
        p = subprocess.Popen([sys.executable, __file__, lib, statef, "send", str(n), "cut"], stdout=subprocess.PIPE)
        got1 = set()
        while not got1:
            d = dc.unpack(ws.recv())
            if d["type"] == PU3 + "delivery":
                got1.update(x["id"] for _, x in payloads(dc, d))
        ws.cut()  # killed mid-push: a RST, no close frame, nothing acknowledged
        out = p.communicate()[0].decode()
        sys.stdout.write(out)
        ok("live: socket cut after the first pushed delivery (%d of %d seen)" % (len(got1), n))
        ws = Ws(port)
        seen = set()
        for _ in range(4 * (n // 100 + 2)):
            m = A.msg(PU3 + "delivery-request", {"limit": 100})
            ws.send(dc.pack(m, gw, forward=False)[0])
            d = dc.unpack(ws.recv())
            while d.get("thid") != m["id"]:
                d = dc.unpack(ws.recv())
            if d["type"] == PU3 + "status":
                break
            got = payloads(dc, d)
            seen.update(x["id"] for _, x in got)
            ws.send(dc.pack(A.msg(PU3 + "messages-received", {"message_id_list": [a for a, _ in got]}), gw,
                            forward=False)[0])
        want = {"cut-%d" % i for i in range(n)}
        expect(want <= seen, "reconnected over WS: every one of the %d arrives again (delivery-request), none lost" % n,
               "%d missing" % len(want - seen))
        ws.cut()
    else:
        bad("unknown command " + cmd)
    sys.exit(1 if R["fail"] else 0)


if __name__ == "__main__":
    main()
