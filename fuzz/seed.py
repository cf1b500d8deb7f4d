#!/usr/bin/env python3
"""Writes the seed corpus, fuzz/corpus/<target>/, from the RFC transcripts in server-core/tests/vectors/.

Run from the repository root: python3 fuzz/seed.py. Each file is named by the SHA-1 of its content (as libFuzzer
names what it finds), so running it again changes nothing. The sessions' first byte is the target's setup byte:
0x60 = plaintext AUTH allowed, STARTTLS offered, raw bytes, whole input in 1-byte pieces.
"""
import hashlib
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTORS = ROOT / "server-core" / "tests" / "vectors"
CORPUS = ROOT / "fuzz" / "corpus"


def lines(path, prefix):
    return [l[len(prefix):] for l in path.read_text().splitlines() if l.startswith(prefix)]


def put(target, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def crlf(ls):
    return "".join(l + "\r\n" for l in ls).encode()


for proto in ["smtp", "pop3", "imap"]:
    for path in sorted((VECTORS / proto).glob("*.txt")):
        client = lines(path, "C: ")
        server = lines(path, "S: ")
        session = crlf(client)
        put(f"{proto}_session", b"\x60" + session)
        if proto == "smtp":
            put("relay_reply", b"\x00" + crlf(server))
            # The message of each DATA, as the DATA reader sees it (the first byte is the chunk size).
            if "DATA" in client:
                after = client[client.index("DATA") + 1:]
                put("smtp_data", b"\x07" + crlf(after))
        for l in client:
            put({"smtp": "smtp_command", "pop3": "pop3_command", "imap": "imap_command"}[proto], (l + "\r\n").encode())
        if proto == "imap":
            for d in lines(path, "D: "):
                message = d.split(" ", 3)[3].replace("\\r\\n", "\r\n")
                put("imap_bodystructure", message.encode())

# MIME structures the transcripts lack: multipart with one and with two parts, a nested message/rfc822.
for message in [
    b"Subject: one part\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nonly\r\n--b--\r\n",
    b"Subject: two\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n"
    b"\r\none\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"PHA+dHdvPC9wPg==\r\n--b--\r\n",
    b"Subject: fwd\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@example.com\r\nSubject: inner\r\n\r\nbody\r\n",
]:
    put("imap_bodystructure", message)

# Mailbox names: RFC 3501 §5.1.3's example and names from the folder transcript.
for name in [b"INBOX", b"~peter/mail/&U,BTFw-/&ZeVnLIqe-", b"&Jjo-!", b"Entw&APw-rfe", b"a&-b"]:
    put("imap_mutf7", name)

# The UID list example of store/maildir.rs, with the percent-encoding its format describes (a keyword holding a
# comma and a space, a file name holding a space).
put("maildir_uidlist", b"mailroom-uidlist 1 1772359200 3 4\n# uid modseq size internaldate flags file\n"
    b"M 1 2 1234 2026-03-01T10:00:00Z \\Seen,$Important 1772359200.M1234P99Q1.mx1,S=1234\n"
    b"M 2 3 99 2026-03-01T10:00:01.5+01:00 a%2Cb,to%20do 1772359201.M1P99Q2.mx1%20x,S=99\nX 1 4\n")

# A certificate subject as rcgen writes the hosts' (the contents of the Name SEQUENCE): O, then CN.
def der(tag, body):
    return bytes([tag, len(body)]) + body


def rdn(oid, value):
    return der(0x31, der(0x30, der(0x06, oid) + der(0x0c, value)))


put("cert_subject", rdn(b"\x55\x04\x0a", b"Mailroom playground") + rdn(b"\x55\x04\x03", b"mx1.example.com"))
