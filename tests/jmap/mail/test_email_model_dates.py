"""date_seconds: UTCDate text to Unix seconds, the score of every Email index."""

from __future__ import annotations

import calendar
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stalwart_tx.jmap.mail.email_model import date_seconds, utc_date


@given(st.integers(min_value=-2**35, max_value=2**36))
def test_whole_seconds_round_trip(seconds: int) -> None:
    text = utc_date(seconds)
    whole = text.rstrip("Z")
    if not whole[:4].isdigit():
        return  # before year 1000 or after 9999: not a UTCDate's form
    assert date_seconds(text) == calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))


def test_fractions_and_leap_seconds() -> None:
    assert date_seconds("2025-12-31T23:59:59.25Z") == 1767225599.25
    assert date_seconds("2016-12-31T23:59:60Z") == 1483228800.0


@pytest.mark.parametrize("bad", ["2024-02-30T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01"])
def test_impossible_dates_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        date_seconds(bad)
