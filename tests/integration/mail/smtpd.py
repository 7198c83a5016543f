#!/usr/bin/python3
"""The tests' SMTP server: aiosmtpd on 127.0.0.1:SMTP_PORT handing every mail to dovecot's LMTP
port, so that it lands in the IMAP mailbox before the 250 after DATA. Recipients are checked
with LMTP at RCPT time (550 for unknown ones). A recipient whose local part starts with
"refuse" gets a 554 after DATA (a permanent refusal), one starting with "later" a 451.
Usage: /usr/bin/python3 smtpd.py SMTP_PORT LMTP_PORT   (stops on SIGTERM)"""
import signal, smtplib, sys
from aiosmtpd.controller import Controller

SMTP_PORT, LMTP_PORT = int(sys.argv[1]), int(sys.argv[2])


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
        return "250 2.0.0 delivered"


signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
ctl = Controller(ToLmtp(), hostname="127.0.0.1", port=SMTP_PORT)
ctl.start()
print("smtpd on", SMTP_PORT, flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
ctl.stop()
