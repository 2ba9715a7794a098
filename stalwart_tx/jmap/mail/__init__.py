"""JMAP for Mail (RFC 8621): its capabilities and data types, one module each.

* ``capability`` — ``urn:ietf:params:jmap:mail`` and ``urn:ietf:params:jmap:vacationresponse``
  with the limits the Mailbox code enforces;
* ``mailbox`` — the Mailbox type (§2), with ``mailbox_rules`` (names, parents, roles),
  ``mailbox_tree`` (sortAsTree / filterAsTree, and what their /queryChanges re-places),
  ``first_use`` (objects an account starts with), ``mailbox_counts`` (the seam through which
  Email code maintains the counts) and ``mailbox_defaults`` (the mailboxes of a new account);
* ``vacation`` — the VacationResponse singleton (§8);
* ``submission_capability`` — ``urn:ietf:params:jmap:submission`` (§1.3.2);
* ``identity`` — the Identity type (§6), with ``identity_defaults`` (one per address of a new
  account) and ``email_address`` (the EmailAddress kind).
"""
