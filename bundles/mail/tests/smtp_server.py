"""A real SMTP server for the mail bundle's tests (Python's stdlib smtpd).

Usage: python3 smtp_server.py DIR
Listens on a free 127.0.0.1 port, prints "PORT <n>" once listening, and
writes each received message to DIR/<n>.eml: an envelope header
("X-Envelope-From", one "X-Envelope-To" per recipient), then the data as
received. Files are written under a temporary name and renamed, so a
reader never sees half a message. Runs until killed.
"""

import os
import sys
import warnings

# Both modules are deprecated (gone in 3.12) and say so on import.
warnings.simplefilter("ignore", DeprecationWarning)
import asyncore  # noqa: E402
import smtpd  # noqa: E402


class Recorder(smtpd.SMTPServer):
    def __init__(self, directory):
        super().__init__(("127.0.0.1", 0), None, decode_data=False)
        self.directory = directory
        self.count = 0

    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        self.count += 1
        envelope = "X-Envelope-From: %s\r\n" % mailfrom
        envelope += "".join("X-Envelope-To: %s\r\n" % r for r in rcpttos)
        final = os.path.join(self.directory, "%d.eml" % self.count)
        with open(final + ".part", "wb") as out:
            out.write(envelope.encode() + data)
        os.rename(final + ".part", final)
        return None


server = Recorder(sys.argv[1])
print("PORT %d" % server.socket.getsockname()[1], flush=True)
asyncore.loop()
