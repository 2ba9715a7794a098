"""Singleton types (like VacationResponse): one object, "singleton", never created or destroyed."""

from __future__ import annotations

import pytest_twisted

from tests.jmap.standard.widgets import Api, method_error


@pytest_twisted.ensureDeferred
async def test_the_singleton_exists_with_its_defaults_before_it_is_ever_set(api: Api) -> None:
    response = await api("Settings/get", {"ids": None})
    assert response["list"] == [
        {"id": "singleton", "theme": "light", "volume": 5, "motto": None}
    ]
    response = await api("Settings/get", {"ids": ["singleton", "other"], "properties": ["theme"]})
    assert response["list"] == [{"id": "singleton", "theme": "light"}]
    assert response["notFound"] == ["other"]


@pytest_twisted.ensureDeferred
async def test_the_singleton_is_updated_but_never_created_or_destroyed(api: Api) -> None:
    state = await api.state("Settings")
    response = await api("Settings/set", {
        "create": {"new": {"theme": "dark"}},
        "update": {"singleton": {"theme": "dark", "motto": "hi"}, "other": {"volume": 1}},
        "destroy": ["singleton"],
    })
    assert response["notCreated"]["new"]["type"] == "singleton"
    assert response["notDestroyed"]["singleton"]["type"] == "singleton"
    assert response["notUpdated"] == {"other": {"type": "notFound"}}
    assert response["updated"] == {"singleton": None}
    assert response["oldState"] == state != response["newState"]
    response = await api("Settings/get", {"ids": None})
    assert response["list"] == [{"id": "singleton", "theme": "dark", "volume": 5, "motto": "hi"}]
    # and once stored, later updates patch the stored object
    await api("Settings/set", {"update": {"singleton": {"motto": None, "volume": 9}}})
    response = await api("Settings/get", {"ids": ["singleton"]})
    assert response["list"] == [{"id": "singleton", "theme": "dark", "volume": 9, "motto": None}]


@pytest_twisted.ensureDeferred
async def test_an_update_to_the_current_values_writes_nothing(api: Api) -> None:
    state = await api.state("Settings")
    response = await api("Settings/set", {"update": {"singleton": {"volume": 5}}})
    assert response["newState"] == response["oldState"] == state


@pytest_twisted.ensureDeferred
async def test_singleton_values_are_checked_like_any_other(api: Api) -> None:
    response = await api("Settings/set", {"update": {"singleton": {"theme": "neon"}}})
    assert response["notUpdated"]["singleton"]["properties"] == ["theme"]


@pytest_twisted.ensureDeferred
async def test_a_type_has_only_the_methods_it_declares(api: Api) -> None:
    assert sorted(n for n in api.methods if n.startswith("Settings/")) == [
        "Settings/get", "Settings/set",
    ]
    assert sorted(n for n in api.methods if n.startswith("Gizmo/")) == [
        "Gizmo/changes", "Gizmo/get",
    ]
    error = await method_error(api, "Settings/get", {"ids": "singleton"})
    assert error.type == "invalidArguments"
