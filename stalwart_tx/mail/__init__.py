"""RFC 5322/MIME messages as JMAP Email properties (RFC 8621 section 4.1): pure, no store."""
