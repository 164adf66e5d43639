"""haproxy.cfg as rendered for nikgate nodes: valid for the installed HAProxy, TCP mode,
health from each node's /health."""

from __future__ import annotations

import subprocess

import pytest

from nikgate.cluster import Backend, render
from nikgate.cluster.local import haproxy_binary

from .conftest import needs_haproxy

NODES = [Backend(f"jkt-{i}", f"10.0.0.{i}:50051", f"10.0.0.{i}:9100") for i in (1, 2, 3)]


def test_render_is_tcp_mode_with_a_health_check_per_node():
    text = render(NODES, "0.0.0.0:50051", stats_socket="/run/haproxy/admin.sock")
    assert "    mode tcp" in text and "mode http" not in text
    assert "http-check send meth GET uri /health" in text
    assert "http-check expect status 200" in text
    for i in (1, 2, 3):
        assert f"server jkt-{i} 10.0.0.{i}:50051 check addr 10.0.0.{i} port 9100" in text
    assert "on-marked-down shutdown-sessions" in text


def test_render_refuses_no_nodes_and_duplicate_names():
    with pytest.raises(ValueError):
        render([], "0.0.0.0:1")
    with pytest.raises(ValueError):
        render([NODES[0], NODES[0]], "0.0.0.0:1")


@needs_haproxy
def test_haproxy_accepts_the_rendered_config(tmp_path):
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(render(NODES, "127.0.0.1:50051", stats_socket=tmp_path / "s.sock",
                          maxconn=1000))
    result = subprocess.run([haproxy_binary() or "haproxy", "-c", "-f", str(cfg)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
