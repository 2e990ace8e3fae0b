"""The add-ons' values (deploy/cluster/) and docs/setup.md: parsed, pinned, in agreement with
each other, and wired to what `vllm-deploy render` produces (rules, dashboards, Services)."""

from __future__ import annotations

import re
import shlex
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from vllm_deploy.render import render
from vllm_deploy.spec import DeploymentSpec, load_spec
from vllm_deploy.spec.models import Network

ROOT = Path(__file__).parents[2]
CLUSTER = ROOT / "deploy" / "cluster"
OBSERVABILITY = ROOT / "deploy" / "observability"
SETUP = (ROOT / "docs" / "setup.md").read_text()
HEADER_KEYS = ("chart", "version", "repo", "release", "namespace")
PINNED = re.compile(r"^v?\d+\.\d+\.\d+$")


def _header(path: Path) -> dict[str, str]:
    """The leading `# key: value` lines of a values file."""
    header = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"# (\w+): (\S+)", line)
        if not match:
            break
        header[match[1]] = match[2]
    return header


VALUES = {path.stem: path for path in sorted(CLUSTER.glob("*.yaml"))}
HEADERS = {name: _header(path) for name, path in VALUES.items()}


def _values(name: str) -> Any:
    return yaml.safe_load(VALUES[name].read_text())


def _dig(tree: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        assert isinstance(tree, dict) and key in tree, f"{dotted}: {key!r} missing"
        tree = tree[key]
    return tree


def _helm_installs() -> list[dict[str, str]]:
    """Every `helm upgrade --install` command in setup.md, its options by name."""
    text = SETUP.replace("\\\n", " ")
    installs = []
    for line in text.splitlines():
        if not line.startswith("helm upgrade --install "):
            continue
        words = shlex.split(line)
        command = {"release": words[3], "chart": words[4]}
        for option, value in pairwise(words[5:]):
            if option.startswith("-"):
                command[option] = value
        installs.append(command)
    return installs


def _specs() -> list[DeploymentSpec]:
    return [load_spec(path) for path in sorted((ROOT / "examples").glob("*.yaml"))]


def _prod() -> DeploymentSpec:
    return load_spec(ROOT / "examples" / "prod.yaml")


def _host(url: str) -> str:
    return urlsplit(url if "//" in url else f"//{url}").hostname or ""


def _service_host(name: str, suffix: str = "") -> str:
    """The Service a release's values name (fullnameOverride, else the release), as a host."""
    values, header = _values(name), HEADERS[name]
    base = values.get("fullnameOverride") or header["release"]
    return f"{base}{suffix}.{header['namespace']}.svc"


def test_every_values_file_parses_and_names_a_pinned_chart() -> None:
    assert len(VALUES) >= 9
    for name, header in HEADERS.items():
        assert set(HEADER_KEYS) <= set(header), f"{name}.yaml header: {header}"
        assert PINNED.match(header["version"]), f"{name}.yaml: version {header['version']!r}"
        assert isinstance(_values(name), dict), name


def test_every_chart_is_installed_once_with_its_values_and_header() -> None:
    installs = _helm_installs()
    by_values = {Path(c["-f"]).stem: c for c in installs}
    assert len(installs) == len(by_values) == len(VALUES), [c["release"] for c in installs]
    for name, header in HEADERS.items():
        command = by_values[name]
        assert command["-f"] == f"deploy/cluster/{name}.yaml"
        assert command["--version"] == header["version"], name
        assert command["chart"] == header["chart"], name
        assert command["release"] == header["release"], name
        assert command["--namespace"] == header["namespace"], name


def test_the_versions_table_agrees_with_the_headers() -> None:
    rows = re.findall(
        r"^\| [^|]+ \| `([^`]+)` \| (\S+) \| `([^`]+)` \| \[(\S+?)\.yaml\]", SETUP, re.M
    )
    assert len(rows) == len(VALUES)
    for chart, version, namespace, name in rows:
        assert (chart, version, namespace) == (
            HEADERS[name]["chart"],
            HEADERS[name]["version"],
            HEADERS[name]["namespace"],
        )


def test_every_chart_repository_is_added_under_its_prefix() -> None:
    added = dict(re.findall(r"^helm repo add (\S+) (\S+)$", SETUP, re.M))
    for name, header in HEADERS.items():
        assert added[header["chart"].split("/")[0]] == header["repo"], name


def test_add_ons_run_in_the_namespaces_the_network_policy_admits() -> None:
    network = Network()
    assert HEADERS["ingress-nginx"]["namespace"] == network.ingress_namespace
    assert HEADERS["kube-prometheus-stack"]["namespace"] == network.monitoring_namespace
    policy = render(_prod())["networkpolicy.yaml"][0]
    admitted = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
        if "namespaceSelector" in peer
    }
    assert {
        HEADERS["ingress-nginx"]["namespace"],
        HEADERS["kube-prometheus-stack"]["namespace"],
    } <= admitted


def test_the_ingress_class_is_the_one_the_ingress_names() -> None:
    ingress = render(_prod())["ingress.yaml"][0]
    values = _values("ingress-nginx")
    assert (
        _dig(values, "controller.ingressClassResource.name") == ingress["spec"]["ingressClassName"]
    )


def test_prometheus_selects_our_monitors_rules_and_dashboards() -> None:
    values = _values("kube-prometheus-stack")
    spec = _prod()
    for key in ("podMonitorSelectorNilUsesHelmValues", "ruleSelectorNilUsesHelmValues"):
        assert _dig(values, f"prometheus.prometheusSpec.{key}") is False
    # The monitors' label selects them under the chart's default selector too.
    assert spec.observability.monitor_labels == {
        "release": HEADERS["kube-prometheus-stack"]["release"]
    }
    dashboards = render(spec)["dashboards.yaml"][0]
    sidecar = _dig(values, "grafana.sidecar.dashboards")
    assert sidecar["enabled"] is True and sidecar["searchNamespace"] == "ALL"
    assert dashboards["metadata"]["labels"][sidecar["label"]] == sidecar["labelValue"]


def test_grafana_reads_loki_and_jaeger_where_they_run() -> None:
    sources = {
        s["type"]: s
        for s in _dig(_values("kube-prometheus-stack"), "grafana.additionalDataSources")
    }
    assert _host(sources["loki"]["url"]) == _service_host("loki", "-gateway")
    assert _host(sources["jaeger"]["url"]) == _service_host("jaeger")


def test_the_adapter_serves_the_rendered_rules_and_every_hpa_metric() -> None:
    values = _values("prometheus-adapter")
    spec = _prod()
    with_gpu = spec.model_copy(
        update={"autoscaling": spec.autoscaling.model_copy(update={"gpu_utilisation_target": 80})}
    )
    rendered = render(with_gpu)["prometheus-adapter-rules.yaml"][0]
    assert _dig(values, "rules.custom") == yaml.safe_load(rendered["data"]["rules.yaml"])["rules"]
    assert _dig(values, "rules.default") is False
    served = {rule["name"]["as"] for rule in values["rules"]["custom"]}
    hpas = [render(s)["hpa.yaml"][0] for s in [*_specs(), with_gpu] if "hpa.yaml" in render(s)]
    assert hpas
    for hpa in hpas:
        for metric in hpa["spec"]["metrics"]:
            if metric["type"] == "Pods":
                assert metric["pods"]["metric"]["name"] in served


def test_the_adapter_and_keda_query_the_stacks_prometheus() -> None:
    prometheus = f"prometheus-operated.{HEADERS['kube-prometheus-stack']['namespace']}.svc"
    adapter = _dig(_values("prometheus-adapter"), "prometheus")
    assert (_host(adapter["url"]), adapter["port"]) == (prometheus, 9090)
    keda_url = urlsplit(_prod().autoscaling.prometheus_url)
    assert (keda_url.hostname, keda_url.port) == (prometheus, 9090)


def test_the_collector_runs_our_config_where_the_pods_send_spans() -> None:
    values = _values("otel-collector")
    ours = yaml.safe_load((OBSERVABILITY / "otel-collector.yaml").read_text())
    assert values["config"] == ours
    assert values["image"]["repository"]  # the chart requires one
    endpoint = _prod().observability.otlp_endpoint
    assert endpoint is not None and _host(endpoint) == _service_host("otel-collector")
    exporter = ours["exporters"]["otlp/jaeger"]["endpoint"]
    assert _host(exporter) == _service_host("jaeger")


def test_promtail_runs_our_config_and_pushes_to_the_loki_gateway() -> None:
    ours = yaml.safe_load((OBSERVABILITY / "promtail.yaml").read_text())
    (promtail,) = [c for c in _helm_installs() if c["-f"] == "deploy/cluster/promtail.yaml"]
    assert promtail["--set-file"] == "config.file=deploy/observability/promtail.yaml"
    assert _dig(_values("promtail"), "config.serverPort") == ours["server"]["http_listen_port"]
    (client,) = ours["clients"]
    assert _host(client["url"]) == _service_host("loki", "-gateway")
    loki = _values("loki")
    assert loki["deploymentMode"] == "SingleBinary" and loki["loki"]["auth_enabled"] is False


def test_the_dcgm_exporter_keeps_the_pod_labels_the_rules_select_on() -> None:
    monitor = _dig(_values("gpu-operator"), "dcgmExporter.serviceMonitor")
    assert monitor["enabled"] is True and monitor["honorLabels"] is True


def _secret_names(objects: dict[str, list[Any]]) -> set[str]:
    """Secrets the pods mount (the Deployment's, the download Job's) and the Ingress' TLS."""
    names = set()
    for objs in objects.values():
        for obj in objs:
            pod = obj.get("spec", {}).get("template", {}).get("spec", {})
            names |= {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
    for obj in objects.get("ingress.yaml", []):
        names |= {tls["secretName"] for tls in obj["spec"].get("tls", [])}
    return names


def test_setup_creates_exactly_the_secrets_the_manifests_reference() -> None:
    spec = _prod()
    created = re.findall(r"^kubectl -n (\S+) create secret \S+ (\S+)", SETUP, re.M)
    assert {ns for ns, _ in created} == {spec.namespace}
    assert {name for _, name in created} == _secret_names(render(spec))


@pytest.mark.parametrize("name", ["api_keys", "hf_token", "admin_token"])
def test_each_secret_key_is_the_one_the_spec_names(name: str) -> None:
    ref = getattr(_prod().secrets, name)
    assert ref is not None
    command = next(
        line for line in SETUP.splitlines() if f"create secret generic {ref.name} " in line
    )
    assert re.search(rf"--from-(file|literal)={re.escape(ref.key)}=", command), command
