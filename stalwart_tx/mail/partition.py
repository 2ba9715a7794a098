"""textBody, htmlBody and attachments: the algorithm of RFC 8621 section 4.1.4, faithfully.

The RFC gives it as JavaScript; this follows it line by line, including that setting
``text_body``/``html_body`` to None inside a multipart only stops collecting at that level.
"""

from __future__ import annotations

from stalwart_tx.mail.body import BodyPart


def _is_inline_media_type(mime_type: str) -> bool:
    return mime_type.startswith(("image/", "audio/", "video/"))


def _parse_structure(
    parts: list[BodyPart],
    multipart_type: str,
    in_alternative: bool,
    html_body: list[BodyPart] | None,
    text_body: list[BodyPart] | None,
    attachments: list[BodyPart],
) -> None:
    # For multipart_type == alternative
    text_length = len(text_body) if text_body is not None else -1
    html_length = len(html_body) if html_body is not None else -1

    for i, part in enumerate(parts):
        is_multipart = part.type.startswith("multipart/")
        # Is this a body part rather than an attachment
        is_inline = (
            part.disposition != "attachment"
            # Must be one of the allowed body types
            and (part.type in ("text/plain", "text/html") or _is_inline_media_type(part.type))
            # If multipart/related, only the first part can be inline. If a text part with a
            # filename, and not the first item in the multipart, assume it is an attachment.
            and (
                i == 0
                or (
                    multipart_type != "related"
                    and (_is_inline_media_type(part.type) or not part.name)
                )
            )
        )
        if is_multipart:
            sub_multi_type = part.type.split("/", 1)[1]
            _parse_structure(
                part.sub_parts or [],
                sub_multi_type,
                in_alternative or sub_multi_type == "alternative",
                html_body,
                text_body,
                attachments,
            )
        elif is_inline:
            if multipart_type == "alternative":
                # The RFC's code would throw on a list an enclosing level set to null (an
                # alternative inside an alternative's mixed part); skipping it is the intent.
                if part.type == "text/plain":
                    if text_body is not None:
                        text_body.append(part)
                elif part.type == "text/html":
                    if html_body is not None:
                        html_body.append(part)
                else:
                    attachments.append(part)
                continue
            elif in_alternative:
                if part.type == "text/plain":
                    html_body = None
                if part.type == "text/html":
                    text_body = None
            if text_body is not None:
                text_body.append(part)
            if html_body is not None:
                html_body.append(part)
            if (text_body is None or html_body is None) and _is_inline_media_type(part.type):
                attachments.append(part)
        else:
            attachments.append(part)

    if multipart_type == "alternative" and text_body is not None and html_body is not None:
        # Found HTML part only
        if text_length == len(text_body) and html_length != len(html_body):
            text_body.extend(html_body[html_length:])
        # Found plaintext part only
        if html_length == len(html_body) and text_length != len(text_body):
            html_body.extend(text_body[text_length:])


def partition(
    body_structure: BodyPart,
) -> tuple[list[BodyPart], list[BodyPart], list[BodyPart]]:
    """``(text_body, html_body, attachments)`` of a message's body structure."""
    html_body: list[BodyPart] = []
    text_body: list[BodyPart] = []
    attachments: list[BodyPart] = []
    _parse_structure([body_structure], "mixed", False, html_body, text_body, attachments)
    return text_body, html_body, attachments
