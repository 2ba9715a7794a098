"""The delivery service in the assembled service, and its one setting."""

from __future__ import annotations

import pytest

from stalwart_tx.config import ConfigError, build_config
from stalwart_tx.push.service import PushDeliveryService
from stalwart_tx.service import makeService
from stalwart_tx.store_service import StoreService


def test_push_batch_window_setting() -> None:
    assert build_config({}).push_batch_window == 0.25
    assert build_config({"push-batch-window": "0.05"}).push_batch_window == 0.05
    for bad in ("0", "-1", "soon"):
        with pytest.raises(ConfigError, match="push-batch-window"):
            build_config({"push-batch-window": bad})


def test_make_service_runs_delivery_between_store_and_listener(redis_url: str) -> None:
    config = build_config({"redis": redis_url, "push-batch-window": 0.05})
    children = list(makeService(config))
    kinds = [type(child) for child in children]
    delivery = children[kinds.index(PushDeliveryService)]
    assert isinstance(delivery, PushDeliveryService) and delivery.batch_window == 0.05
    # started after the store, so stopped (in reverse) before the store closes
    assert kinds.index(StoreService) < kinds.index(PushDeliveryService) < len(kinds) - 1
