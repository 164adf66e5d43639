"""deploy/k8s: every manifest parses, names what docs/deploy.md says, and the files it
embeds (nikgate.toml, haproxy.cfg) are valid for nikgate and for HAProxy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from nikgate.cluster.local import haproxy_binary  # noqa: E402
from nikgate.server.config import load_config  # noqa: E402

K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s"


def _docs() -> list[dict]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert isinstance(doc, dict) and doc.get("kind") and doc.get("apiVersion"), path
            out.append(doc)
    return out


def _one(kind: str, name: str) -> dict:
    found = [d for d in _docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def test_every_manifest_parses_into_the_namespace():
    docs = _docs()
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {("StatefulSet", "nikgate"), ("Service", "nikgate-nodes"), ("Service", "nikgate"),
            ("Deployment", "nikgate-haproxy"), ("Cluster", "nikgate-pg"),
            ("ConfigMap", "nikgate-config")} <= kinds
    assert all(d["metadata"].get("namespace") == "nikgate" for d in docs
               if d["kind"] != "Namespace")


def test_nodes_keep_the_index_on_a_local_volume_and_pull_it_first():
    sts = _one("StatefulSet", "nikgate")
    spec = sts["spec"]["template"]["spec"]
    assert spec["initContainers"][0]["command"][:3] == ["nikgate", "index", "pull"]
    claim = sts["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "local-nvme"
    node = next(c for c in spec["containers"] if c["name"] == "nikgate")
    assert node["readinessProbe"]["httpGet"]["path"] == "/health"
    env = {e["name"] for e in node["env"]}
    assert {"NIKGATE_SERVER_NODE_ID", "NIKGATE_CLUSTER_POSTGRES_DSN"} <= env


def test_the_node_config_is_valid_for_nikgate(tmp_path):
    text = _one("ConfigMap", "nikgate-config")["data"]["nikgate.toml"]
    (tmp_path / "nikgate.toml").write_text(text)
    config = load_config(tmp_path / "nikgate.toml", environ={})
    assert config.server.drain_seconds > 0 and config.metrics.address.endswith(":9100")
    assert config.index.reload_verify is False


def test_the_haproxy_config_is_tcp_mode_and_valid(tmp_path):
    text = _one("ConfigMap", "nikgate-haproxy")["data"]["haproxy.cfg"]
    assert "mode tcp" in text and "uri /health" in text
    binary = haproxy_binary()
    if binary is None:
        pytest.skip("haproxy is not installed")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text.replace("maxconn 50000", "maxconn 1000"))
    result = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
