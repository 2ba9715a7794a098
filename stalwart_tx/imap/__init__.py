"""IMAP4rev1 / IMAP4rev2 server: command framing, grammar and command parsing."""
