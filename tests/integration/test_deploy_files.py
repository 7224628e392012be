"""The deployment files under ``cluster/``, checked offline: the Kubernetes manifests validate
(strict schemas of recent Kubernetes versions, ``kubernetes-validate``) and agree with each
other (Services, probes, Secrets, the slots and memory agents offer) and with the command
line (every container argument is an option ``sabot-lab`` accepts); the systemd units pass
``systemd-analyze verify`` and start ``sabot-lab`` with options it accepts.

Some files use options that other changes are adding to the command line; they are listed
in :data:`PENDING_OPTIONS` and :data:`PENDING_HTTP_PATHS`, which must name only what is
still missing, so each entry goes once it is there.
"""

from __future__ import annotations

import math
import re
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from sabot_lab.cli import build_parser
from sabot_lab.runtime.jobmanager.http import StatusHttpServer
from sabot_lab.runtime.protocol import Role

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "cluster" / "k8s"
SYSTEMD = ROOT / "cluster" / "systemd"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())
INSTALLED_BINARY = "/opt/sabot-lab/bin/sabot-lab"
"""Where the units expect ``sabot-lab`` (cluster/README.md installs it there)."""

PENDING_OPTIONS: set[tuple[str, str]] = set()
"""(command, option) the deployment files pass that the command line does not accept yet."""
PENDING_HTTP_PATHS: set[str] = set()
"""Probe paths the JobManager's HTTP endpoint does not serve yet without a token."""


def documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of a file."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def resources() -> list[dict[str, Any]]:
    """Every Kubernetes object of the manifests."""
    return [d for path in MANIFESTS for d in documents(path)]


def workloads() -> list[dict[str, Any]]:
    return [r for r in resources() if r["kind"] in ("Deployment", "StatefulSet")]


def workload(name: str) -> dict[str, Any]:
    return next(w for w in workloads() if w["metadata"]["name"] == name)


def containers() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, container) of every container the manifests run."""
    for w in workloads():
        for container in w["spec"]["template"]["spec"]["containers"]:
            yield w, container


def kustomization() -> dict[str, Any]:
    return documents(K8S / "kustomization.yaml")[0]


def quantity(text: str) -> float:
    """A Kubernetes resource quantity (``500m``, ``2``, ``8Gi``, ``1G``) as a number."""
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    suffixes |= {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    number, suffix = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text)).groups()  # type: ignore[union-attr]
    return float(number) * (suffixes[suffix] if suffix else 1)


EXAMPLE_FIELDS = {
    "metadata.name": "sabot-agent-0",
    "metadata.namespace": "sabot",
    "status.podIP": "10.0.0.5",
}


def environment(container: dict[str, Any]) -> dict[str, str]:
    """What each variable of a container's ``env`` holds in a pod: literal values, the
    downward API's fields (example values) and resources (as Kubernetes computes them:
    the request divided by the divisor, rounded up), secrets by their reference."""
    values: dict[str, str] = {}
    for var in container.get("env", []):
        source = var.get("valueFrom", {})
        if "value" in var:
            values[var["name"]] = var["value"]
        elif "fieldRef" in source:
            values[var["name"]] = EXAMPLE_FIELDS[source["fieldRef"]["fieldPath"]]
        elif "resourceFieldRef" in source:
            ref = source["resourceFieldRef"]
            assert ref["containerName"] == container["name"]
            kind, resource = ref["resource"].split(".")
            request = quantity(container["resources"][kind][resource])
            values[var["name"]] = str(math.ceil(request / quantity(ref.get("divisor", "1"))))
        else:
            ref = source["secretKeyRef"]
            values[var["name"]] = f"<secret {ref['name']}/{ref['key']}>"
    return values


def expand(args: list[str], values: dict[str, str]) -> list[str]:
    """A container's arguments with ``$(VAR)`` replaced as Kubernetes does; a reference to a
    variable the container does not define is an error (Kubernetes would leave it as is)."""

    def value(match: re.Match[str]) -> str:
        assert match[1] in values, f"$({match[1]}) is not a variable of the container"
        return values[match[1]]

    return [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", value, arg) for arg in args]


def without_pending(command: str, args: list[str]) -> list[str]:
    """``args`` without the options of :data:`PENDING_OPTIONS` (and their values)."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        option = arg.split("=", 1)[0]
        if (command, option) in PENDING_OPTIONS:
            skip = "=" not in arg
            continue
        kept.append(arg)
    return kept


def parse(args: list[str]) -> Any:
    """``sabot-lab``'s parse of ``args`` (pending options left out); an option or a value it
    refuses fails the test with the parser's message."""
    command = args[0]
    kept = without_pending(command, args)
    try:
        return build_parser().parse_args(kept)
    except SystemExit:
        pytest.fail(f"sabot-lab refuses {shlex.join(kept)} (see its message above)")


def container_args(name: str) -> list[str]:
    w = workload(name)
    container = w["spec"]["template"]["spec"]["containers"][0]
    return expand(container["args"], environment(container))


def option(args: list[str], name: str) -> str:
    """The value of ``--name=value`` or ``--name value`` in ``args``."""
    for i, arg in enumerate(args):
        if arg == name:
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} missing from {args}")


# ---- Kubernetes ------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_validates_strictly(path: Path, version: str) -> None:
    for resource in documents(path):
        kubernetes_validate.validate(resource, version, strict=True)


def test_the_kustomization_applies_every_manifest() -> None:
    assert sorted(kustomization()["resources"]) == [p.name for p in MANIFESTS]


def test_the_kustomization_renders_valid_objects(tmp_path: Path) -> None:
    """``kubectl kustomize`` (offline) renders the manifests with Secrets generated from
    files shaped like the examples, and every object it renders validates."""
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "kubectl renders the kustomization: `make test` installs it"
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    for example in (copy / "secrets").glob("*.env.example"):
        lines = example.read_text().splitlines()
        filled = [f"{line}x" if line.endswith("=") else line for line in lines]
        example.with_suffix("").write_text("\n".join(filled) + "\n")
    for generator in kustomization()["secretGenerator"]:
        for entry in generator.get("files", []):
            (copy / entry.split("=", 1)[1]).write_text("-----BEGIN CERTIFICATE-----\n")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(copy)], capture_output=True, text=True, timeout=120
    )
    assert rendered.returncode == 0, rendered.stderr
    objects = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    assert {o["kind"] for o in objects} >= {"Secret", "Deployment", "StatefulSet"}
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[-1], strict=True)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "sabot", obj["metadata"]


@pytest.mark.parametrize("name", ["sabot-jobmanager", "sabot-agent"])
def test_container_arguments_are_options_sabot_lab_accepts(name: str) -> None:
    args = container_args(name)
    assert parse(args).command == args[0]


def test_pending_options_are_still_missing_from_the_command_line() -> None:
    """Once the command line accepts a pending option, it leaves :data:`PENDING_OPTIONS`."""
    base = {"agent": ["agent"], "jobmanager": ["jobmanager", "--workdir", "w"]}
    for command, name in sorted(PENDING_OPTIONS):
        with pytest.raises(SystemExit):
            build_parser().parse_args([*base[command], name, "x"])


def test_agents_offer_the_cores_and_memory_they_request() -> None:
    container = workload("sabot-agent")["spec"]["template"]["spec"]["containers"][0]
    parsed = parse(container_args("sabot-agent"))
    requests = container["resources"]["requests"]
    assert parsed.slots == math.ceil(quantity(requests["cpu"]))
    assert parsed.memory == quantity(requests["memory"])
    # what an agent offers, it is given: limits equal requests
    assert container["resources"]["limits"]["cpu"] == requests["cpu"]
    assert container["resources"]["limits"]["memory"] == requests["memory"]


def test_agents_advertise_their_stable_names_and_find_the_jobmanager() -> None:
    agents = workload("sabot-agent")
    service = {r["metadata"]["name"]: r for r in resources() if r["kind"] == "Service"}
    args = container_args("sabot-agent")
    pod = f"{EXAMPLE_FIELDS['metadata.name']}.{agents['spec']['serviceName']}.sabot.svc"
    assert option(args, "--advertise-host") == pod
    headless = service[agents["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True  # reachable before ready
    assert int(option(args, "--port")) == headless["spec"]["ports"][0]["port"]
    jobmanager_args = container_args("sabot-jobmanager")
    advertised = option(jobmanager_args, "--advertise-host")
    flight = next(p for p in service["sabot-jobmanager"]["spec"]["ports"] if p["name"] == "flight")
    assert advertised == "sabot-jobmanager.sabot.svc"
    assert option(args, "--jobmanager") == f"grpc+tls://{advertised}:{flight['port']}"
    assert int(option(jobmanager_args, "--port")) == flight["port"]


def test_the_jobmanager_runs_twice_on_one_external_database() -> None:
    jobmanager = workload("sabot-jobmanager")
    assert jobmanager["kind"] == "Deployment"
    assert jobmanager["spec"]["replicas"] == 2
    postgres = next(r for r in resources() if r["metadata"]["name"] == "sabot-postgres")
    assert postgres["spec"]["type"] == "ExternalName"
    env = jobmanager["spec"]["template"]["spec"]["containers"][0]["env"]
    url = next(v for v in env if v["name"] == "SABOT_DATABASE_URL")
    assert url["valueFrom"]["secretKeyRef"]["name"] == "sabot-database"
    example = (K8S / "secrets" / "database.env.example").read_text()
    assert "@sabot-postgres.sabot.svc:5432/" in example and "sslmode=verify-full" in example


def generated_secrets() -> dict[str, set[str]]:
    """The Secrets the kustomization generates, with their keys (an ``envs`` file's keys
    are those of its ``.example``)."""
    secrets: dict[str, set[str]] = {}
    for generator in kustomization()["secretGenerator"]:
        keys = {entry.split("=", 1)[0] for entry in generator.get("files", [])}
        for env_file in generator.get("envs", []):
            example = (K8S / (env_file + ".example")).read_text().splitlines()
            keys |= {line.split("=", 1)[0] for line in example if re.match(r"^[A-Z_]+=", line)}
        secrets[generator["name"]] = keys
    return secrets


def test_every_secret_a_pod_uses_is_generated_with_its_keys() -> None:
    secrets = generated_secrets()
    for w, container in containers():
        pod = w["spec"]["template"]["spec"]
        for var in container.get("env", []):
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets[ref["name"]], (w["metadata"]["name"], ref)
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        files = set()
        for volume in pod["volumes"]:
            if "secret" in volume:
                name = volume["secret"]["secretName"]
                files |= {f"{mounts[volume['name']]}/{key}" for key in secrets[name]}
        values = environment(container)
        paths = [option(container["args"], o) for o in ("--tls-cert", "--tls-key")]
        assert {*paths, values["SABOT_TLS_CA"]} <= files, (w["metadata"]["name"], files)


def test_each_process_holds_only_the_tokens_of_its_role() -> None:
    tokens = {role.variable for role in Role}
    held = {
        w["metadata"]["name"]: {v["name"] for v in c.get("env", []) if v["name"] in tokens}
        for w, c in containers()
    }
    assert held == {"sabot-jobmanager": tokens, "sabot-agent": {Role.CLUSTER.variable}}
    for _, container in containers():
        assert not any(v["name"] in tokens and "value" in v for v in container["env"])
        assert not any(t in arg for arg in container["args"] for t in tokens)
    example = (K8S / "secrets" / "tokens.env.example").read_text()
    assert all(f"\n{t}=\n" in example for t in tokens)  # no token committed


def test_pods_run_unprivileged_with_limits_and_probes() -> None:
    for w, container in containers():
        pod = w["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        assert pod["enableServiceLinks"] is False
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind])
        ports = {p["name"] for p in container["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            check = container[probe].get("httpGet") or container[probe]["tcpSocket"]
            assert check["port"] in ports, (w["metadata"]["name"], probe)
        writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
        assert "/tmp" in writable
        assert option(container["args"], "--workdir") in writable


def test_services_and_budgets_select_pods_and_ports_that_exist() -> None:
    labels = {
        w["metadata"]["name"]: w["spec"]["template"]["metadata"]["labels"] for w in workloads()
    }
    ports = {name: {p["name"] for c, p in _ports(name)} for name in labels}

    def selected(selector: dict[str, str]) -> list[str]:
        return [name for name, have in labels.items() if selector.items() <= have.items()]

    for r in resources():
        if r["kind"] == "Service" and r["spec"].get("type") != "ExternalName":
            (target,) = selected(r["spec"]["selector"])
            assert {p["targetPort"] for p in r["spec"]["ports"]} <= ports[target]
        elif r["kind"] == "PodDisruptionBudget":
            assert selected(r["spec"]["selector"]["matchLabels"]) == ["sabot-agent"]
        elif r["kind"] == "NetworkPolicy":
            (target,) = selected(r["spec"]["podSelector"]["matchLabels"])
            for rule in r["spec"]["ingress"]:
                assert {p["port"] for p in rule["ports"]} <= ports[target]
                peers = [selected(p["podSelector"]["matchLabels"]) for p in rule["from"]]
                assert sorted(n for (n,) in peers) == ["sabot-agent", "sabot-jobmanager"]
    for w in workloads():
        assert w["spec"]["selector"]["matchLabels"].items() <= labels[w["metadata"]["name"]].items()


def _ports(name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(c, p) for w, c in containers() if w["metadata"]["name"] == name for p in c["ports"]]


class _Api:
    """An empty cluster, for the HTTP endpoint."""

    def jobs(self, limit: int = 100, before: str | None = None) -> list[dict[str, Any]]:
        return []

    def job_view(self, job_id: str) -> dict[str, Any]:
        return {}

    def agents(self) -> list[dict[str, Any]]:
        return []

    def metrics_text(self) -> str:
        return ""

    def role(self) -> dict[str, Any]:
        return {"role": "single", "epoch": None, "leader": "grpc://127.0.0.1:8815"}


def probe_paths() -> set[str]:
    return {
        c[probe]["httpGet"]["path"]
        for _, c in containers()
        for probe in ("readinessProbe", "livenessProbe", "startupProbe")
        if "httpGet" in c.get(probe, {})
    }


def test_probe_paths_are_served_without_a_token() -> None:
    """The kubelet sends no token: a probed path answers without one (a pending path is
    still refused on this code)."""
    server = StatusHttpServer(_Api(), tokens=["a-token-the-probe-does-not-have"])
    try:
        for path in sorted(probe_paths()):
            try:
                status = urllib.request.urlopen(server.url + path, timeout=30).status
            except urllib.error.HTTPError as error:
                status = error.code
            if path in PENDING_HTTP_PATHS:
                assert status == 401, f"{path} is served now: remove it from PENDING_HTTP_PATHS"
            else:
                assert status in (200, 503), path
    finally:
        server.shutdown()
    assert probe_paths() >= PENDING_HTTP_PATHS


# ---- systemd ---------------------------------------------------------------------------

UNITS = ("sabot-jobmanager.service", "sabot-agent@.service")


def unit_lines(name: str) -> list[tuple[str, str]]:
    """(key, value) of a unit file's settings, in order."""
    lines = (SYSTEMD / name).read_text().splitlines()
    return [
        (key.strip(), value.strip())
        for key, _, value in (line.partition("=") for line in lines)
        if _ and not key.startswith(("#", ";"))
    ]


def example_environment(unit: str) -> dict[str, str]:
    """The variables of the example EnvironmentFile of a unit."""
    example = SYSTEMD / ("agent.env.example" if "agent" in unit else "jobmanager.env.example")
    pairs = (line.split("=", 1) for line in example.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs if not key.startswith("#")}


def exec_start(unit: str, instance: str = "8816") -> list[str]:
    """A unit's ExecStart as systemd runs it: specifiers and ``${VAR}`` of its example
    EnvironmentFile expanded (each ``${VAR}`` one argument)."""
    (line,) = [value for key, value in unit_lines(unit) if key == "ExecStart"]
    specifiers = {"%i": instance, "%S": "/var/lib", "%d": f"/run/credentials/{unit}"}
    for specifier, value in specifiers.items():
        line = line.replace(specifier, value)
    env = example_environment(unit)
    words = shlex.split(line)
    for word in words:
        for name in re.findall(r"\$\{(\w+)\}", word):
            assert env.get(name), f"{unit}: ${{{name}}} is not set by its example env file"
    return [re.sub(r"\$\{(\w+)\}", lambda m: env[m[1]], word) for word in words]


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` checks that ExecStart's program exists: the test's copies
    of the units start the ``sabot-lab`` of this Python environment instead of the
    installed one (``/opt/sabot-lab``), and nothing else of them changes."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: apt-get install systemd (make system-test-deps)"
    program = Path(sys.executable).parent / "sabot-lab"
    assert program.exists(), f"{program} is missing: install sabot-lab (make install-test)"
    for name in UNITS:
        text = (SYSTEMD / name).read_text()
        assert f"ExecStart={INSTALLED_BINARY} " in text
        (tmp_path / name).write_text(text.replace(INSTALLED_BINARY, str(program)))
    checked = [tmp_path / "sabot-jobmanager.service", tmp_path / "sabot-agent@8816.service"]
    verify = subprocess.run(
        [analyze, "verify", "--man=no", *map(str, checked)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout + verify.stderr == ""  # not even a warning (an unknown key)


@pytest.mark.parametrize("unit", UNITS)
def test_units_start_sabot_lab_with_options_it_accepts(unit: str) -> None:
    args = exec_start(unit)
    assert args[0] == INSTALLED_BINARY
    parsed = parse(args[1:])
    assert parsed.port == (8816 if "agent" in unit else 8815)  # an agent's instance: its port
    assert parsed.tls_key == f"/run/credentials/{unit}/tls.key"  # the credential's copy


def test_agents_are_given_every_jobmanager() -> None:
    addresses = example_environment("sabot-agent@.service")["SABOT_JOBMANAGER"].split(",")
    assert len(addresses) == 2 and all(a.startswith("grpc+tls://") for a in addresses)
    assert option(exec_start("sabot-agent@.service"), "--jobmanager") == ",".join(addresses)


@pytest.mark.parametrize("unit", UNITS)
def test_units_are_hardened_and_keep_credentials_out(unit: str) -> None:
    settings = unit_lines(unit)
    values: dict[str, list[str]] = {}
    for key, value in settings:
        values.setdefault(key, []).append(value)
    workdir = option(exec_start(unit), "--workdir")
    for key, value in {
        "User": "sabot",
        "Restart": "on-failure",
        "After": "network-online.target",
        "Wants": "network-online.target",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
        "ReadWritePaths": workdir.replace("/var/lib", "%S").replace("8816", "%i"),
    }.items():
        assert values.get(key) == [value], (unit, key)
    assert (
        values["EnvironmentFile"][0]
        == f"/etc/sabot/{'agent' if 'agent' in unit else 'jobmanager'}.env"
    )
    tokens = {role.variable for role in Role}
    text = (SYSTEMD / unit).read_text()
    assert not any(t in text for t in tokens)  # tokens only in the EnvironmentFile
    held = {key for key in example_environment(unit) if key in tokens}
    assert held == ({Role.CLUSTER.variable} if "agent" in unit else tokens)
    assert all(example_environment(unit)[t] == "" for t in held)  # no token committed


def test_the_readme_links_the_deployment_page() -> None:
    page = ROOT / "cluster" / "README.md"
    assert "(cluster/README.md)" in (ROOT / "README.md").read_text()
    for link in re.findall(r"\]\((?!https?:|#)([^)#]+)", page.read_text()):
        assert (page.parent / link).exists(), link
