"""twistd plugin: ``twistd -n stalwart``. Imports nothing heavy until the service is made."""

from twisted.application.service import ServiceMaker

stalwart = ServiceMaker(
    "stalwart-tx", "stalwart_tx.tap", "JMAP and IMAP mail server on Redis", "stalwart"
)
