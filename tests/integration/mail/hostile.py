"""The hostile mails of 07-email-hostile.sh, each wrapped around a real DIDComm message (so
that only the breakage stops it), written as OUTDIR/NAME.eml (CRLF). Prints one line per mail,
in the order the test delivers them: "NAME<TAB>what the gateway's log must say about it" (an
extended regex).
Usage: hostile.py OUTDIR FROM TO GOODFILE"""
import base64, os, sys

out, frm, to, good = sys.argv[1], sys.argv[2], sys.argv[3], open(sys.argv[4], "rb").read()
DC = "application/didcomm-encrypted+json"


def b64(data):
    s = base64.b64encode(data).decode()
    return "\r\n".join(s[i:i + 76] for i in range(0, len(s), 76))


def head(extra=""):
    return ("From: %s\r\nTo: %s\r\nSubject: DIDComm message\r\nMIME-Version: 1.0\r\nKeywords: didcomm\r\n%s"
            % (frm, to, extra))


def mixed(parts, boundary="b1", ctype=None):
    h = head("Content-Type: %s\r\n\r\n" % (ctype or 'multipart/mixed; boundary="%s"' % boundary))
    body = "".join("--%s\r\n%s\r\n" % (boundary, p) for p in parts)
    return h + body + "--%s--\r\n" % boundary


def part(ctype, data, name="m.dcem", body=None):
    """an attachment, base64 (body: the encoded text as it is to stand, broken or not)"""
    return ("Content-Type: %s\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"%s\"\r\n\r\n%s"
            % (ctype, name, b64(data) if body is None else body))


text = "Content-Type: text/plain; charset=utf-8\r\n\r\nA DIDComm message for an agent.\r\n"
mails = []
# malformed MIME: a multipart with no boundary, and one whose boundary never occurs
mails.append(("no-boundary", head("Content-Type: multipart/mixed\r\n\r\n") + "--b1\r\n" + part(DC, good) + "\r\n--b1--\r\n",
              "malformed MIME: a multipart/mixed with no boundary parameter"))
mails.append(("lost-boundary", mixed([text, part(DC, good)], ctype='multipart/mixed; boundary="other"'),
              "malformed MIME: the boundary of a multipart/mixed never occurs"))
# a 20 MB attachment: over max_mail, never fetched; a 10 MB DIDComm part: fetched, over max_message_bytes
big = os.urandom(20 << 20)
mails.append(("attach-20mb", mixed([text, part(DC, good), part("application/octet-stream", big, name="big.bin")]),
              "over max_mail [0-9]+ \\(not fetched\\)"))
mails.append(("dcpart-10mb", mixed([text, part(DC, big[:10 << 20])]),
              "a DIDComm part of 10485760 bytes, over max_message_bytes"))
# nested multiparts: 100,000 deep (7 MB, past any parser's stack), and 40 deep
def nested(depth):
    s = [head()]
    s += ['Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i) for i in range(depth)]
    s.append(part(DC, good) + "\r\n")
    s += ["--n%d--\r\n" % i for i in reversed(range(depth))]
    return "".join(s)
mails.append(("nested-100000", nested(100000), "malformed MIME: 100000 multipart/message headers, over [0-9]+ \\(not parsed\\)"))
mails.append(("nested-40", nested(40), "MIME nested deeper than [0-9]+ levels"))
# a wrong charset: the message in UTF-16
mails.append(("charset-utf16", mixed([text, part(DC + "; charset=utf-16", good.decode().encode("utf-16"))]),
              "part in charset utf-16 \\(DIDComm messages are UTF-8\\)"))
# base64 errors: characters outside the alphabet, and a cut-off last quantum
mails.append(("base64-bad-chars", mixed([text, part(DC, None, body=b64(good).replace("A", "*", 3))]),
              "cannot be decoded \\(broken base64\\)"))
mails.append(("base64-cut", mixed([text, part(DC, None, body=b64(good)[:-3])]), "cannot be decoded \\(broken base64\\)"))
# a part that claims a DIDComm media type and holds garbage (well encoded): the gateway refuses it
mails.append(("garbage-dc", mixed([text, part(DC, b"\x00\x01 this is no JWE \xff" * 40)]), "refused: .*(json|JSON)"))
mails.append(("garbage-json", mixed([text, part(DC, b'{"protected":"!!","ciphertext":1}')]), "refused: .*encrypted"))

for name, mail, why in mails:
    with open(os.path.join(out, name + ".eml"), "wb") as f:
        f.write(mail.encode("ascii"))
    print("%s\t%s" % (name, why))
