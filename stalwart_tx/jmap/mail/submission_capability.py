"""``urn:ietf:params:jmap:submission`` (RFC 8621 §1.3.2), under which Identity and
EmailSubmission live.

With an SMTP relay configured, the server holds messages itself (RFC 4865 FUTURERELEASE on the
envelope's MAIL FROM, see ``email_submission_envelope``) for up to ``maxDelayedSend`` seconds,
and says so in ``submissionExtensions``: ``FUTURERELEASE`` with the longest hold in seconds and
the latest date-time a message may be held until (rounded down to its day). Other MAIL FROM and
RCPT TO parameters go to the relay as given, when it offers their extension; the server cannot
know which it offers before it connects, so it advertises none of them. Without a relay nothing
can be sent: ``maxDelayedSend`` is 0 and there are no extensions.
"""

from __future__ import annotations

import time

from stalwart_tx.jmap.capabilities import SUBMISSION
from stalwart_tx.jmap.mail.email_submission_envelope import MAX_DELAYED_SEND
from stalwart_tx.jmap.registry import CapabilitySpec, JSONObject, MethodSpec, RegistryOptions

METHODS: list[MethodSpec] = []  # in identity.py and email_submission.py


def submission_account_value(account_id: str) -> JSONObject:
    """The account capability when no relay is configured."""
    return {"maxDelayedSend": 0, "submissionExtensions": {}}


def sending_account_value(account_id: str) -> JSONObject:
    # the start of the UTC day of the latest hold: a bound every hold still meets, and one that
    # moves (and with it the Session's state, which clients watch) once a day, not every second
    day = 24 * 3600
    latest_day = (int(time.time()) + MAX_DELAYED_SEND) // day * day
    latest = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(latest_day))
    return {
        "maxDelayedSend": MAX_DELAYED_SEND,
        "submissionExtensions": {"FUTURERELEASE": [str(MAX_DELAYED_SEND), latest]},
    }


def capabilities(options: RegistryOptions) -> list[CapabilitySpec]:
    value = submission_account_value if options.relay is None else sending_account_value
    return [CapabilitySpec(SUBMISSION, session_value=dict, account_value=value)]
