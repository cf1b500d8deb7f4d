"""Drives Mailroom's IMAP server with Python's imaplib, as a real client would.

Usage: python3 imaplib_session.py <imap-port> <imaps-port>
Device 1 uses STARTTLS on the IMAP port, device 2 implicit TLS on the IMAPS port and sits in IDLE; every change
device 1 makes must reach device 2 while it idles.
"""
import imaplib
import ssl
import sys
import time

HOST = "127.0.0.1"
IMAP_PORT, IMAPS_PORT = int(sys.argv[1]), int(sys.argv[2])
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE  # the world's certificates are self-signed


def ok(result, what):
    typ, data = result
    if typ != "OK":
        raise SystemExit(f"{what}: {typ} {data}")
    return data


def idle_line(w, want):
    """One of the next few untagged lines device 2 gets while idling must contain `want`."""
    seen = []
    for _ in range(5):
        line = w.readline()
        seen.append(line)
        if want in line:
            return line
    raise SystemExit(f"IDLE: wanted {want!r}, got {seen!r}")


# Device 1: STARTTLS on 143-offset.
d1 = imaplib.IMAP4(HOST, IMAP_PORT)
assert "STARTTLS" in d1.capabilities, d1.capabilities
ok(d1.starttls(ssl_context=CTX), "starttls")
ok(d1.login("alice", "password"), "login")
ok(d1.create("Projects/2026"), "create")
listing = ok(d1.list('""', "*"), "list")
assert any(b'"Projects/2026"' in l for l in listing), listing
assert any(b"\\Sent" in l for l in listing), listing
msg = b"From: bob@example.com\r\nTo: alice@example.com\r\nSubject: imaplib test\r\n\r\nHello from imaplib\r\n"
ok(d1.append("INBOX", r"(\Flagged)", imaplib.Time2Internaldate(time.time()), msg), "append")

# Device 2: implicit TLS on 993-offset, IDLE on INBOX.
d2 = imaplib.IMAP4_SSL(HOST, IMAPS_PORT, ssl_context=CTX)
ok(d2.login("alice@example.com", "password"), "login 2")
ok(d2.select("INBOX"), "select 2")
d2.sock.settimeout(10)
tag = d2._new_tag()
d2.send(tag + b" IDLE\r\n")
assert d2.readline().startswith(b"+"), "IDLE continuation"

count = int(ok(d1.select("INBOX"), "select")[0])
ids = ok(d1.search(None, "SUBJECT", '"imaplib test"'), "search")[0].split()
assert ids, "search found nothing"
data = ok(d1.fetch(ids[-1], "(FLAGS BODY.PEEK[])"), "fetch")
assert b"Hello from imaplib" in data[0][1], data
ok(d1.store(ids[-1], "+FLAGS", r"(\Seen)"), "store")
idle_line(d2, b"\\Seen")

# New mail arrives while device 2 idles.
ok(d1.append("INBOX", None, None, msg.replace(b"imaplib test", b"second")), "append 2")
idle_line(d2, b"EXISTS")

# Move the first message into the new folder: device 2 sees it leave INBOX.
uid = ok(d1.fetch(ids[-1], "(UID)"), "fetch uid")[0].split()[-1].rstrip(b")")
typ, data = d1.uid("MOVE", uid.decode(), "Projects/2026")
assert typ == "OK", (typ, data)
idle_line(d2, b"EXPUNGE")

# Flag and expunge in the new folder.
ok(d1.select("Projects/2026"), "select project")
ok(d1.store("1", "+FLAGS", r"(\Deleted)"), "store deleted")
expunged = ok(d1.expunge(), "expunge")
assert expunged == [b"1"], expunged
status = ok(d1.status("Projects/2026", "(MESSAGES UIDNEXT)"), "status")
assert b"MESSAGES 0" in status[0], status

d2.send(b"DONE\r\n")
while True:
    line = d2.readline()
    if line.startswith(tag):
        assert b" OK " in line, line
        break
d1.logout()
d2.logout()
print("imaplib: ok")
