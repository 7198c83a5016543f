#!/usr/bin/python3
"""The tests' SMTP server: aiosmtpd on 127.0.0.1:SMTP_PORT handing every mail to dovecot's LMTP
port, so that it lands in the IMAP mailbox before the 250 after DATA. Recipients are checked
with LMTP at RCPT time (550 for unknown ones). A recipient whose local part starts with
"refuse" gets a 554 after DATA (a permanent refusal), one starting with "later" a 451.
Usage: /usr/bin/python3 smtpd.py SMTP_PORT LMTP_PORT [OPTION...]   (stops on SIGTERM)
  tls=CERT,KEY      SMTP_PORT offers STARTTLS with this certificate
  smtps=PORT        also implicit TLS on PORT (needs tls=)
  auth=USER:PASS    AUTH PLAIN/LOGIN required before MAIL (after STARTTLS on SMTP_PORT when tls=)"""
import signal, smtplib, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_PORT, LMTP_PORT = int(sys.argv[1]), int(sys.argv[2])
opt = dict(a.split("=", 1) for a in sys.argv[3:])


class ToLmtp:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if not local.startswith(("refuse", "later")):
            try:
                with smtplib.LMTP("127.0.0.1", LMTP_PORT) as l:
                    l.ehlo()
                    l.mail(envelope.mail_from or "")
                    code, msg = l.rcpt(address)
            except Exception as e:  # dovecot down: a temporary failure
                return "451 4.3.0 mailbox check failed: %s" % e
            if code != 250:
                return "%d %s" % (code, msg.decode(errors="replace"))
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        local = envelope.rcpt_tos[0].split("@", 1)[0]
        if local.startswith("refuse"):
            return "554 5.7.1 refused by policy"
        if local.startswith("later"):
            return "451 4.3.2 try again later"
        try:
            with smtplib.LMTP("127.0.0.1", LMTP_PORT) as l:
                l.sendmail(envelope.mail_from, envelope.rcpt_tos, envelope.original_content or envelope.content)
        except Exception as e:
            return "451 4.3.0 delivery failed: %s" % e
        print("delivered from", envelope.mail_from, "auth", getattr(session, "authenticated", None),
              "tls", session.ssl is not None, flush=True)
        return "250 2.0.0 delivered"


def authenticator(server, session, envelope, mechanism, auth_data):
    user, pw = opt["auth"].split(":", 1)
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (user.encode(), pw.encode())
    print("AUTH", mechanism, "ok" if ok else "refused", flush=True)
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


ctx = None
if "tls" in opt:
    cert, key = opt["tls"].split(",", 1)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
kw = dict(hostname="127.0.0.1")
if "auth" in opt:
    kw.update(authenticator=authenticator, auth_required=True)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
ctls = [Controller(ToLmtp(), port=SMTP_PORT, tls_context=ctx, auth_require_tls=ctx is not None, **kw)]
if "smtps" in opt:
    ctls.append(Controller(ToLmtp(), port=int(opt["smtps"]), ssl_context=ctx, auth_require_tls=False, **kw))
for c in ctls:
    c.start()
print("smtpd on", SMTP_PORT, opt.get("smtps", ""), flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
for c in ctls:
    c.stop()
