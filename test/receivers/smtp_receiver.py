#!/usr/bin/python3
"""Debian python3-aiosmtpd with its stock Maildir handler, optionally requiring AUTH.

usage: smtp_receiver.py PORT MAILDIR [USER PASSWORD]
Each accepted message lands as one file in MAILDIR/new. Prints "listening <port>" when ready.
Run with /usr/bin/python3: a pyenv python3 first on PATH would not see Debian's modules.
"""
import sys
import time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult

port, maildir = int(sys.argv[1]), sys.argv[2]
creds = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else None


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = creds is not None and auth_data.login.decode() == creds[0] and auth_data.password.decode() == creds[1]
    return AuthResult(success=ok)


kwargs = {}
if creds:
    kwargs = dict(authenticator=authenticator, auth_require_tls=False, auth_required=True)
controller = Controller(Mailbox(maildir), hostname='127.0.0.1', port=port, **kwargs)
controller.start()
print('listening', port, flush=True)
try:
    while True:
        time.sleep(3600)
finally:
    controller.stop()
