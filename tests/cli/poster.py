"""Posts files to a DIDComm HTTP endpoint as fast as one keep-alive connection allows and
records which were accepted (HTTP 202), one name per line, flushed as it goes: the record
of what the gateway promised to deliver. Connection errors (the gateway was killed) are
counted, not fatal; the connection is reopened for the next file.
Usage: poster.py URL ACCEPTED_FILE FILE..."""
import http.client, os, sys, urllib.parse

url = urllib.parse.urlsplit(sys.argv[1])
assert url.hostname == "127.0.0.1", "loopback only"
acc = open(sys.argv[2], "a", buffering=1)
conn = None
errors = 0
for path in sys.argv[3:]:
    with open(path, "rb") as f:
        body = f.read()
    try:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=30)
        conn.request("POST", url.path or "/", body, {"Content-Type": "application/didcomm-encrypted+json"})
        r = conn.getresponse()
        r.read()
        if r.status == 202:
            acc.write(os.path.splitext(os.path.basename(path))[0] + "\n")
    except (OSError, http.client.HTTPException):
        errors += 1
        if conn is not None:
            conn.close()
        conn = None
print("poster: %d errors" % errors, file=sys.stderr)
