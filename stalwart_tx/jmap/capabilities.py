"""Capability URIs this server knows, in one place."""

CORE = "urn:ietf:params:jmap:core"
WEBSOCKET = "urn:ietf:params:jmap:websocket"
BLOB = "urn:ietf:params:jmap:blob"
MAIL = "urn:ietf:params:jmap:mail"
SUBMISSION = "urn:ietf:params:jmap:submission"
VACATION_RESPONSE = "urn:ietf:params:jmap:vacationresponse"
QUOTA = "urn:ietf:params:jmap:quota"
