"""Mail delivery over LMTP (RFC 2033): an MTA hands messages to stalwart-tx, which files each in
its recipients' Inboxes through the JMAP method layer and answers once per recipient."""
