"""Posts files to a DIDComm HTTP endpoint as fast as one keep-alive connection allows and
records which were accepted (HTTP 202), one name per line, flushed as it goes: the record
of what the gateway promised to deliver. Connection errors (the gateway was killed) are
counted, not fatal; the connection is reopened for the next file.
With POSTER_RETRY_S=S, a file answered 503 or cut off by a connection error is posted again
(every 0.1 s, for up to S seconds) before the next: a sender that goes on through an outage.
Usage: poster.py URL ACCEPTED_FILE FILE..."""
import http.client, os, sys, time, urllib.parse

url = urllib.parse.urlsplit(sys.argv[1])
assert url.hostname == "127.0.0.1", "loopback only"
acc = open(sys.argv[2], "a", buffering=1)
retry_s = float(os.environ.get("POSTER_RETRY_S", "0"))
conn = None
errors = 0
busy = 0
for path in sys.argv[3:]:
    with open(path, "rb") as f:
        body = f.read()
    until = time.time() + retry_s
    while True:
        status = None
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=30)
            conn.request("POST", url.path or "/", body, {"Content-Type": "application/didcomm-encrypted+json"})
            r = conn.getresponse()
            r.read()
            status = r.status
            if status == 202:
                acc.write(os.path.splitext(os.path.basename(path))[0] + "\n")
            elif status == 503:
                busy += 1
        except (OSError, http.client.HTTPException):
            errors += 1
            if conn is not None:
                conn.close()
            conn = None
        if status not in (None, 503) or time.time() >= until:
            break
        time.sleep(0.1)
print("poster: %d errors, %d answered 503" % (errors, busy), file=sys.stderr)
