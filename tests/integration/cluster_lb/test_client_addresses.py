"""The Python client's own balancing: connection.json `addresses`, the target it dials."""

from __future__ import annotations

import json

import pytest

from nikgate import errors
from nikgate.clients import Connection
from nikgate.clients.connection import ROUND_ROBIN_SERVICE_CONFIG, SERVICE_CONFIG, balanced_target


def _file(tmp_path, **extra):
    data = {"address": "127.0.0.1:50050", "ca": "ca.crt",
            "institutions": {"bank-a": {"cert": "c.crt", "key": "c.key"}}, **extra}
    path = tmp_path / "connection.json"
    path.write_text(json.dumps(data))
    return path


def test_one_address_dials_it_with_the_plain_service_config(tmp_path):
    conn = Connection.from_file(_file(tmp_path), "bank-a")
    assert conn.addresses == () and conn.target() == "127.0.0.1:50050"
    assert dict(conn.options())["grpc.service_config"] == SERVICE_CONFIG


def test_addresses_dial_every_node_round_robin(tmp_path):
    conn = Connection.from_file(_file(tmp_path, addresses=["10.0.0.1:50051",
                                                           "10.0.0.2:50051"]), "bank-a")
    assert conn.target() == "ipv4:10.0.0.1:50051,10.0.0.2:50051"
    options = dict(conn.options())
    assert options["grpc.service_config"] == ROUND_ROBIN_SERVICE_CONFIG
    assert "round_robin" in ROUND_ROBIN_SERVICE_CONFIG
    assert options["grpc.ssl_target_name_override"] == "localhost"   # one cert, every node


def test_names_resolve_and_families_do_not_mix():
    assert balanced_target(["localhost:1", "127.0.0.2:2"]).startswith("ipv4:")
    assert balanced_target(["[::1]:1", "[::2]:2"]) == "ipv6:[::1]:1,[::2]:2"
    with pytest.raises(errors.InvalidInputError):
        balanced_target(["127.0.0.1:1", "[::1]:2"])
    with pytest.raises(errors.InvalidInputError):
        balanced_target(["no-port"])


def test_addresses_must_be_a_list_of_strings(tmp_path):
    with pytest.raises(errors.InvalidInputError):
        Connection.from_file(_file(tmp_path, addresses="10.0.0.1:1"), "bank-a")
