"""stalwart-tx: a JMAP and IMAP mail server on Twisted, storing everything in Redis."""

__version__ = "0.1.0"
