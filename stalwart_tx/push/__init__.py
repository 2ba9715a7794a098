"""Push subscriptions (RFC 8620 §7.2) and their delivery over Web Push (RFC 8030, RFC 8291).

``subscription``: the stored PushSubscription object and what makes its properties valid;
``encryption``: the client's keys and RFC 8291 message encryption;
``sender``: one HTTP POST to a push service, with its outcome;
``retry``: backoff and Retry-After;
``outbox``: the messages waiting for one subscription, sent one at a time with retries;
``service``: the twisted Service that turns store notifications into pushes.
"""
