"""Builds the tests' mails (stdout, CRLF) and reads them back.
  mkmail.py didcomm FROM TO FILE [FILE...]  one attachment per FILE (application/didcomm-encrypted+json)
  mkmail.py dcem FROM TO FILE               FILE attached as application/octet-stream, named x.dcem
  mkmail.py plain FROM TO TEXT              a mail with no DIDComm part
  mkmail.py lmtp PORT FROM TO FILE...       one didcomm mail per FILE, each delivered straight
                                            into TO's mailbox over dovecot's LMTP on PORT (one
                                            connection; the order of the FILEs); prints the count
  mkmail.py deliver PORT FROM TO EML...     the same with ready-made mails, as they are
  mkmail.py extract MAIL OUTDIR             writes each DIDComm part as OUTDIR/part-N; prints the
                                            headers checked (Keywords, Message-ID, media types)"""
import email, email.policy, os, smtplib, sys
from email.message import EmailMessage

DC = ("application/didcomm-encrypted+json", "application/didcomm-signed+json", "application/didcomm-plain+json")


def base(frm, to, subject):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = frm, to, subject
    return m


def didcomm_mail(frm, to, files, subtype="didcomm-encrypted+json"):
    m = base(frm, to, "DIDComm message")
    m["Keywords"] = "didcomm"
    m.set_content("A DIDComm message for an agent.\n")
    for i, f in enumerate(files):
        m.add_attachment(open(f, "rb").read(), maintype="application", subtype=subtype, filename="m%d.dcem" % i)
    return m.as_bytes(policy=email.policy.SMTP)


cmd = sys.argv[1]
if cmd == "lmtp":
    port, frm, to = int(sys.argv[2]), sys.argv[3], sys.argv[4]
    n = 0
    with smtplib.LMTP("127.0.0.1", port) as l:
        for f in sys.argv[5:]:
            l.sendmail(frm, [to], didcomm_mail(frm, to, [f]))
            n += 1
    print(n)
elif cmd == "deliver":
    port, frm, to = int(sys.argv[2]), sys.argv[3], sys.argv[4]
    n = 0
    with smtplib.LMTP("127.0.0.1", port) as l:
        for f in sys.argv[5:]:
            l.sendmail(frm, [to], open(f, "rb").read())
            n += 1
    print(n)
elif cmd in ("didcomm", "dcem", "plain"):
    frm, to = sys.argv[2], sys.argv[3]
    m = base(frm, to, "DIDComm message" if cmd != "plain" else "hello")
    if cmd == "plain":
        m.set_content(sys.argv[4] + "\n")
    else:
        m["Keywords"] = "didcomm"
        m.set_content("A DIDComm message for an agent.\n")
        for i, f in enumerate(sys.argv[4:]):
            data = open(f, "rb").read()
            if cmd == "didcomm":
                m.add_attachment(data, maintype="application", subtype="didcomm-encrypted+json", filename="m%d.dcem" % i)
            else:
                m.add_attachment(data, maintype="application", subtype="octet-stream", filename="x.dcem")
    sys.stdout.buffer.write(m.as_bytes(policy=email.policy.SMTP))
elif cmd == "extract":
    m = email.message_from_bytes(open(sys.argv[2], "rb").read(), policy=email.policy.default)
    n = 0
    for part in m.walk():
        if part.get_content_type() in DC:
            with open(os.path.join(sys.argv[3], "part-%d" % n), "wb") as f:
                f.write(part.get_payload(decode=True))
            print("part", n, part.get_content_type(), part.get_filename())
            n += 1
        elif part.get_content_type() == "text/plain":
            print("text", part.get_content().strip().replace("\n", " "))
    print("keywords", m["Keywords"])
    print("message-id", m["Message-ID"])
    print("from", m["From"])
    print("parts", n)
