"""The SetErrors of RFC 8620 §5.3/§5.4 as the methods and type hooks produce them."""

from __future__ import annotations

from stalwart_tx.jmap.standard import set_errors


def test_every_set_error_of_the_rfc_is_available_with_its_json_shape() -> None:
    assert [error.to_json()["type"] for error in (
        set_errors.forbidden(), set_errors.over_quota(), set_errors.too_large(),
        set_errors.rate_limit(), set_errors.not_found(), set_errors.invalid_patch(),
        set_errors.will_destroy(), set_errors.invalid_properties([]), set_errors.singleton(),
        set_errors.already_exists("x"),
    )] == [
        "forbidden", "overQuota", "tooLarge", "rateLimit", "notFound", "invalidPatch",
        "willDestroy", "invalidProperties", "singleton", "alreadyExists",
    ]
    assert set_errors.invalid_properties(["a", "b"], "why").to_json() == {
        "type": "invalidProperties", "properties": ["a", "b"], "description": "why",
    }
    assert set_errors.already_exists("M1").to_json() == {
        "type": "alreadyExists", "existingId": "M1",
    }
