"""`resolve_settings` / `start_multi_host`: the launch settings, from arguments or environment."""

import keras
import pytest

from keras_stw import training
from keras_stw.training.multi_host import ENVIRONMENT, resolve_settings


@pytest.fixture(autouse=True)
def no_launch_environment(monkeypatch):
    for variable in ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)


def test_arguments_come_first_then_the_environment(monkeypatch):
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:1234")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "3")
    assert resolve_settings() == {
        "coordinator_address": "10.0.0.1:1234",
        "num_processes": 4,
        "process_id": 3,
    }
    assert resolve_settings("host:99", process_id=0)["process_id"] == 0
    assert resolve_settings("host:99", process_id=0)["coordinator_address"] == "host:99"


def test_nothing_set_leaves_it_to_the_cluster():
    assert resolve_settings() == dict.fromkeys(ENVIRONMENT)


@pytest.mark.parametrize(
    "arguments, environment, message",
    [
        ({"num_processes": 2, "process_id": 2}, {}, r"below `num_processes` \(2\).*process_id=2"),
        ({"num_processes": 2}, {"JAX_PROCESS_ID": "5"}, "JAX_PROCESS_ID='5'"),
        ({}, {"JAX_NUM_PROCESSES": "two"}, "must be an integer. Received: JAX_NUM_PROCESSES='two'"),
        ({"num_processes": 0}, {}, "at least 1. Received: num_processes=0"),
        ({"process_id": -1}, {}, "at least 0. Received: process_id=-1"),
        ({"coordinator_address": "10.0.0.1"}, {}, "host:port.*coordinator_address='10.0.0.1'"),
        ({}, {"JAX_COORDINATOR_ADDRESS": ":80"}, "JAX_COORDINATOR_ADDRESS=':80'"),
    ],
)
def test_a_bad_setting_is_named_with_where_it_came_from(
    monkeypatch, arguments, environment, message
):
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        resolve_settings(**arguments)


@pytest.mark.parametrize("multi_host", [False, True])
def test_launch_settings_need_multi_host_on_jax(multi_host):
    backend = keras.backend.backend()
    if multi_host and backend == "jax":
        multi_host = False  # JAX takes them with multi_host=True: test_multi_process.py.
    with pytest.raises(ValueError, match=rf"multi_host=True\) under the JAX backend.*'{backend}'"):
        training.data_parallel(multi_host, num_processes=2, process_id=0)


@pytest.mark.parametrize("num_items, process_count", [(5, 2), (7, 3), (2, 2), (1, 2)])
def test_the_processes_parts_are_the_items_split_as_evenly_as_can_be(num_items, process_count):
    items = list(range(num_items))
    parts = [training.Processes(p, process_count).part(items) for p in range(process_count)]
    assert sum(parts, []) == items
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
