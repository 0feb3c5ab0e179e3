"""The deploy/ directory: systemd unit, Prometheus rules, Grafana dashboard, compose.

These files are only useful if they agree with each other and with the
interface (metric names, paths, listen address), so most tests here are
cross-checks. Tools that are not installed (systemd-analyze, promtool) make
their tests skip with a message saying what is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read the deploy/ YAML files")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "footage-gateway.service"
PROM = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "footage-gateway.json"
COMPOSE = DEPLOY / "compose.yaml"
CONFIG_EXAMPLE = DEPLOY / "config.example.toml"
OPERATIONS = ROOT / "docs" / "operations.md"
#: Where the metric names are written down: the project's living copy of the
#: interface first, then the shared contract it started from.
CONTRACT_SOURCES = (ROOT / "docs" / "interface.md", Path("/work/shared/contract.md"))

#: Used when no contract document is present; kept equal to it when one is.
FALLBACK_METRICS = {
    "footage_segments_stored": "gauge",
    "footage_bytes_stored": "gauge",
    "footage_segments_past_deadline": "gauge",
    "footage_purge_lag_seconds": "histogram",
    "footage_segments_purged_total": "counter",
    "footage_ingest_rejected_total": "counter",
    "footage_oldest_segment_age_seconds": "gauge",
    "footage_retention_seconds": "gauge",
    "footage_holds": "gauge",
    "footage_redaction_frames_total": "counter",
    "footage_audit_chain_verified": "gauge",
    "footage_storage_free_bytes": "gauge",
    "footage_camera_up": "gauge",
    "footage_camera_reconnects_total": "counter",
    "footage_camera_last_frame_age_seconds": "gauge",
    "footage_camera_failures_total": "counter",
    "footage_segments_dropped_total": "counter",
    "footage_notifications_total": "counter",
    "footage_notifications_pending": "gauge",
    "footage_key_unlocked": "gauge",
    "footage_key_unlock_failures_total": "counter",
    "footage_clock_jump_seconds": "gauge",
    "footage_purge_paused": "gauge",
    "footage_camera_clock_skew_seconds": "gauge",
    "footage_wal_erased_keys_pending": "gauge",
    "footage_storage_up": "gauge",
    "footage_storage_errors_total": "counter",
    "footage_storage_deletes_pending": "gauge",
    "footage_storage_delete_pending_seconds": "gauge",
    "footage_storage_legal_holds_pending": "gauge",
    "footage_storage_scrub_problems": "gauge",
}
#: Series Prometheus itself makes; dashboards may use them besides the contract's.
PROMETHEUS_BUILTINS = {"up"}
MAX_EXPOSURE = 2.5

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
PROMTOOL = shutil.which("promtool")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (Debian package: systemd)"
)
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package: prometheus)"
)


# --- helpers -------------------------------------------------------------------


def contract_metrics() -> dict[str, str]:
    """Metric name -> type from the contract's "Metrics" section (or the fallback)."""
    for source in CONTRACT_SOURCES:
        if source.exists():
            found = parse_metrics_section(source.read_text(encoding="utf-8"))
            if found:
                return found
    return dict(FALLBACK_METRICS)


def parse_metrics_section(markdown: str) -> dict[str, str]:
    """Read ``name{labels}  type`` lines from the code block under a Metrics heading."""
    section = re.search(r"^##+ Metrics.*?\n```\n(.*?)```", markdown, re.S | re.M)
    if not section:
        return {}
    line = re.compile(r"^(footage_[a-z0-9_]+)(?:\{[^}]*\})?\s+(gauge|counter|histogram)\b", re.M)
    return {m[1]: m[2] for m in line.finditer(section[1])}


_PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
    "and", "or", "unless", "atan2", "inf", "nan",
}


def promql_metric_names(expr: str) -> set[str]:
    """Series names an expression selects (functions, labels and keywords left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery windows
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = m[1], m[2]
        if call or name.lower() in _PROMQL_WORDS:
            continue
        names.add(name)
    return names


def base_metric(series: str, metrics: dict[str, str]) -> str:
    """The contract name a series belongs to (histogram series carry a suffix)."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = series.removesuffix(suffix)
        if base != series and metrics.get(base) == "histogram":
            return base
    return series


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def all_panels(panels: list[dict]) -> list[dict]:
    out = []
    for p in panels:
        out.append(p)
        out.extend(all_panels(p.get("panels", [])))  # panels inside collapsed rows
    return out


def dashboard_exprs() -> list[tuple[str, str]]:
    return [
        (p["title"], t["expr"])
        for p in all_panels(dashboard()["panels"])
        for t in p.get("targets", [])
        if t.get("expr")
    ]


def alert_rules() -> list[dict]:
    doc = yaml.safe_load((PROM / "alerts.yml").read_text(encoding="utf-8"))
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def unit_directives() -> dict[str, list[str]]:
    """Directive -> values in file order (systemd allows repeats)."""
    out: dict[str, list[str]] = {}
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def one(directives: dict[str, list[str]], key: str) -> str:
    values = directives.get(key)
    assert values and len(values) == 1, f"{key}= should appear once in the unit, found {values}"
    return values[0]


def run(*cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


def volume_parts(volume: str) -> tuple[str, str]:
    """(source, target) of a compose short-syntax volume, ``${VAR:-default}`` as its default."""
    resolved = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", volume)
    source, target, *_ = resolved.split(":")
    return source, target


def example_settings():
    from gateway.config import load_settings

    return load_settings(CONFIG_EXAMPLE)


# --- the helpers themselves ------------------------------------------------------


def test_metric_name_extraction_finds_series_and_ignores_the_rest():
    expr = (
        'histogram_quantile(0.99, sum by (le, camera) (rate(footage_purge_lag_seconds_bucket'
        '{camera=~"$camera", job="x"}[$__rate_interval]))) > on (instance) footage_typo_total '
        "offset 5m or absent(up{job=\"footage-gateway\"})"
    )
    assert promql_metric_names(expr) == {"footage_purge_lag_seconds_bucket", "footage_typo_total", "up"}


def test_contract_metrics_match_the_fallback_list():
    # The fallback is what these tests check against where no contract exists;
    # a contract change must be reflected here, or the fallback silently rots.
    assert contract_metrics() == FALLBACK_METRICS


# --- systemd unit --------------------------------------------------------------------


@needs_systemd_analyze
def test_unit_exposure_score_is_low():
    result = run(SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager", str(UNIT))
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert match, f"no exposure score in systemd-analyze output:\n{result.stdout}\n{result.stderr}"
    score = float(match[1])
    print(f"systemd-analyze security exposure: {score}")
    failed = [ln for ln in result.stdout.splitlines() if ln.startswith("✗")]
    assert score <= MAX_EXPOSURE, "exposure too high; failing checks:\n" + "\n".join(failed)


def _verify_problems(unit: Path) -> list[str]:
    """Messages from ``systemd-analyze verify`` other than the binary not being installed."""
    result = run(SYSTEMD_ANALYZE, "verify", "--man=no", "--no-pager", str(unit))
    exec_start = one(unit_directives(), "ExecStart").split()[0]
    missing_binary = f"Command {exec_start} is not executable"
    lines = [ln for ln in (result.stdout + result.stderr).splitlines() if ln.strip()]
    return [ln for ln in lines if not (missing_binary in ln and not Path(exec_start).exists())]


@needs_systemd_analyze
def test_unit_verifies_apart_from_the_binary_not_being_installed_here(tmp_path):
    assert _verify_problems(UNIT) == []
    # The filter above must not swallow real problems: a misspelt directive shows.
    broken = tmp_path / UNIT.name
    broken.write_text(UNIT.read_text().replace("LockPersonality=", "LockPersonalty="))
    assert any("LockPersonalty" in p for p in _verify_problems(broken))


def test_unit_runs_the_gateway_as_its_own_user_with_the_documented_paths():
    d = unit_directives()
    config = "/etc/footage-gateway/config.toml"
    assert one(d, "ExecStart") == (
        f"/opt/footage-gateway/.venv/bin/footage-gateway serve --config {config}"
    )
    assert one(d, "User") == one(d, "Group") == "footage-gateway"
    assert config.startswith(f"/etc/{one(d, 'ConfigurationDirectory')}/")
    state_dirs = {f"/var/lib/{name}" for name in one(d, "StateDirectory").split()}
    settings = example_settings()
    assert settings.storage.path in state_dirs
    assert str(settings.keyring_path.parent) in state_dirs
    # A backup of storage.path must not sweep up the key ring (docs/operations.md, Backups).
    assert not settings.keyring_path.is_relative_to(settings.storage_path)
    assert one(d, "Restart") == "on-failure"


def test_unit_memory_max_covers_the_gateways_memory_bound():
    from gateway.config import load_settings, parse_settings
    limit = re.search(r"^MemoryMax=(\d+)([KMG])$", UNIT.read_text(), re.M)
    assert limit, "the unit sets no MemoryMax= (issue 10, finding 3)"
    max_bytes = int(limit[1]) * 1024 ** " KMG".index(limit[2])
    for settings in (parse_settings({"storage": {"path": "/tmp/x"}}),
                     load_settings(CONFIG_EXAMPLE)):
        assert settings.memory_bound_bytes() <= max_bytes


def test_unit_keeps_plaintext_and_keys_off_disk_and_private():
    d = unit_directives()
    assert one(d, "UMask") == "0077"  # key ring and catalog readable by the service only
    assert one(d, "StateDirectoryMode") == "0700"
    assert one(d, "LimitCORE") == "0"  # a core dump would hold frames and unwrapped keys
    assert one(d, "MemorySwapMax") == "0"
    tmpdir = one(d, "Environment").removeprefix("TMPDIR=")
    assert tmpdir == f"/run/{one(d, 'RuntimeDirectory')}"  # /run is a tmpfs
    assert one(d, "CapabilityBoundingSet") == ""
    assert one(d, "RestrictAddressFamilies").split() == ["AF_INET", "AF_INET6", "AF_UNIX"]


_SANDBOX_PROBE = textwrap.dedent(
    """
    import ctypes, mmap, os, sys
    if os.environ.get("PROBE_PROC_SUBSET") and os.path.exists("/proc/cpuinfo"):
        sys.exit("/proc is not limited to processes: the probe proves nothing")
    PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        sys.exit(77)
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        sys.exit("a writable+executable mapping was allowed: the probe proves nothing")
    except OSError:
        pass
    import io
    import numpy as np, cv2, av, aiohttp, pydantic, argon2, sqlite3
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=8)
        st.width, st.height, st.pix_fmt = 64, 64, "yuv420p"
        for i in range(8):
            img = np.full((64, 64, 3), i * 20, np.uint8)
            cv2.fillPoly(img, [np.array([[0, 0], [40, 0], [40, 40]], np.int32)], (0, 0, 0))
            img = cv2.GaussianBlur(img, (5, 5), 0)
            for p in st.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    buf.seek(0)
    with av.open(buf) as inp:
        assert sum(1 for _ in inp.decode(video=0)) == 8
    AESGCM(AESGCM.generate_key(bit_length=256)).encrypt(b"0" * 12, b"x" * 65536, None)
    ChaCha20Poly1305(ChaCha20Poly1305.generate_key()).encrypt(b"0" * 12, b"x", None)
    X25519PrivateKey.generate().exchange(X25519PrivateKey.generate().public_key())
    argon2.PasswordHasher(time_cost=1, memory_cost=1024).hash("pw")
    sqlite3.connect(":memory:").execute("pragma secure_delete = on")
    print("ok")
    """
)


def _proc_subset_prefix() -> list[str]:
    """A command prefix that runs under /proc mounted as ProcSubset=pid does, if we may."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    prefix = [unshare, "--mount", "--pid", "--fork", "sh", "-c",
              'mount -t proc -o subset=pid,hidepid=invisible proc /proc && exec "$@"', "sh"]
    return prefix if run(*prefix, "true").returncode == 0 else []


def test_sandbox_is_safe_for_the_media_and_crypto_stack():
    # systemd cannot start the unit here (no PID 1). Rehearse the two settings
    # most likely to break a media stack on a child process instead: the
    # kernel's own form of MemoryDenyWriteExecute= (PR_SET_MDWE) and, where we
    # may mount, /proc as ProcSubset=pid leaves it. Then run what could need
    # W+X memory or system-wide /proc files: decode/encode, masking, crypto.
    d = unit_directives()
    assert one(d, "MemoryDenyWriteExecute") == "yes" and one(d, "ProcSubset") == "pid"
    prefix = _proc_subset_prefix()
    env = {"PATH": "/usr/bin:/bin", **({"PROBE_PROC_SUBSET": "1"} if prefix else {})}
    result = subprocess.run([*prefix, sys.executable, "-c", _SANDBOX_PROBE], env=env,
                            capture_output=True, text=True, timeout=120)
    if result.returncode == 77:
        pytest.skip("kernel has no PR_SET_MDWE (Linux < 6.3)")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    print("rehearsed: MemoryDenyWriteExecute" + (" + ProcSubset=pid" if prefix else " only"))


# --- Prometheus --------------------------------------------------------------------


@needs_promtool
def test_prometheus_config_is_valid(tmp_path):
    # The token file is a secret that exists only on the NVR host: point the
    # check at a stand-in, keeping everything else as shipped.
    token = tmp_path / "token"
    token.write_text("x" * 32)
    config = (PROM / "prometheus.yml").read_text()
    shipped = yaml.safe_load(config)["scrape_configs"][0]["authorization"]["credentials_file"]
    (tmp_path / "prometheus.yml").write_text(config.replace(shipped, str(token)))
    shutil.copy(PROM / "alerts.yml", tmp_path)
    result = run(PROMTOOL, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout + result.stderr


def test_prometheus_scrapes_the_gateway_where_it_listens():
    scrape = yaml.safe_load((PROM / "prometheus.yml").read_text())["scrape_configs"]
    job = next(s for s in scrape if s["job_name"] == "footage-gateway")
    assert job["static_configs"][0]["targets"] == [example_settings().server.listen]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["credentials_file"]  # /metrics needs a token
    # FootageGatewayDown selects this job by name.
    down = next(r for r in alert_rules() if r["alert"] == "FootageGatewayDown")
    assert f'job="{job["job_name"]}"' in down["expr"]


@needs_promtool
def test_alert_rules_are_valid():
    result = run(PROMTOOL, "check", "rules", "alerts.yml", cwd=PROM)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_alert_unit_tests_pass():
    result = run(PROMTOOL, "test", "rules", "alerts.test.yml", cwd=PROM)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
@pytest.mark.parametrize("alert", [r["alert"] for r in alert_rules()])
def test_each_alert_has_a_unit_test_that_sees_it_fire(alert, tmp_path):
    # Replace one alert's expression with one that never fires: the promtool
    # tests must then fail for that alert, or no test shows it firing.
    doc = yaml.safe_load((PROM / "alerts.yml").read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule["expr"] = "vector(1) < 0"
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    shutil.copy(PROM / "alerts.test.yml", tmp_path)
    result = run(PROMTOOL, "test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert f"alertname: {alert}," in result.stdout + result.stderr


def test_alerts_have_severity_and_a_runbook_section():
    headings = OPERATIONS.read_text(encoding="utf-8").splitlines()
    anchors = {
        re.sub(r"[^a-z0-9 _-]", "", h.lstrip("#").strip().lower()).replace(" ", "-")
        for h in headings
        if h.startswith("#")
    }
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        page, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert page == "docs/operations.md" and anchor in anchors, rule["alert"]


# --- metric names across dashboard and alerts -----------------------------------------


def test_dashboard_and_alerts_use_only_contract_metrics():
    metrics = contract_metrics()
    exprs = dashboard_exprs() + [(r["alert"], r["expr"]) for r in alert_rules()]
    for where, expr in exprs:
        for series in promql_metric_names(expr):
            name = base_metric(series, metrics)
            assert name in metrics or name in PROMETHEUS_BUILTINS, f"{where}: unknown metric {series}"
            if metrics.get(name) == "histogram":
                assert series != name, f"{where}: {name} is a histogram; use _bucket/_sum/_count"


def test_every_contract_metric_is_on_the_dashboard_or_in_an_alert():
    metrics = contract_metrics()
    used = {
        base_metric(series, metrics)
        for _, expr in dashboard_exprs() + [(r["alert"], r["expr"]) for r in alert_rules()]
        for series in promql_metric_names(expr)
    }
    assert set(metrics) - used == set()


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path):
    # promtool has no bare query parser; a recording rule per query gets the
    # same parser. Grafana's variables become what Grafana would put there.
    rules = [
        {
            "record": f"panel_{i}",
            "expr": expr.replace("$__rate_interval", "2m").replace("$camera", ".*"),
        }
        for i, (_, expr) in enumerate(dashboard_exprs())
    ]
    (tmp_path / "panels.yml").write_text(yaml.safe_dump({"groups": [{"name": "p", "rules": rules}]}))
    result = run(PROMTOOL, "check", "rules", "panels.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Grafana ---------------------------------------------------------------------------


def test_dashboard_structure():
    d = dashboard()
    assert d["schemaVersion"] >= 36 and d["uid"]
    panels = all_panels(d["panels"])
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for p in panels:
        if p.get("targets"):
            assert p["datasource"]["uid"] == "${datasource}", p["title"]


def test_past_deadline_stat_is_red_unless_zero():
    panel = next(
        p for p in all_panels(dashboard()["panels"])
        if any("footage_segments_past_deadline" in t.get("expr", "") for t in p.get("targets", []))
    )
    assert panel["type"] == "stat"
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[0] == {"color": "green", "value": None}
    assert [s for s in steps[1:] if s["color"] == "red"][0]["value"] <= 1


def test_grafana_provisioning_matches_compose():
    compose = yaml.safe_load(COMPOSE.read_text())
    grafana_mounts = {
        target: source
        for source, target in map(volume_parts, compose["services"]["grafana"]["volumes"])
    }
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/footage-gateway.yml").read_text()
    )["providers"][0]
    dash_dir = provider["options"]["path"]
    assert grafana_mounts[f"{dash_dir}/{DASHBOARD.name}"] == f"./grafana/{DASHBOARD.name}"
    assert grafana_mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    source = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert source["type"] == "prometheus"
    listen = next(
        a.split("=", 1)[1]
        for a in compose["services"]["prometheus"]["command"]
        if a.startswith("--web.listen-address=")
    )
    assert source["url"] == f"http://{listen}"


# --- compose ---------------------------------------------------------------------------


def test_compose_mounts_files_that_exist():
    compose = yaml.safe_load(COMPOSE.read_text())
    assert set(compose["services"]) == {"prometheus", "grafana"}
    for name, service in compose["services"].items():
        assert service["network_mode"] == "host", name  # reaches 127.0.0.1:8080
        for volume in service.get("volumes", []):
            source, _ = volume_parts(volume)
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name}: {source} is missing"


def test_compose_gives_prometheus_its_config_rules_and_token():
    compose = yaml.safe_load(COMPOSE.read_text())
    prom = compose["services"]["prometheus"]
    targets = {volume_parts(v)[1] for v in prom["volumes"]}
    config_file = next(
        a.split("=", 1)[1] for a in prom["command"] if a.startswith("--config.file=")
    )
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    config_dir = str(Path(config_file).parent)
    assert config_file in targets
    assert {f"{config_dir}/{rules}" for rules in config["rule_files"]} <= targets
    assert config["scrape_configs"][0]["authorization"]["credentials_file"] in targets


# --- example config ----------------------------------------------------------------------


def test_config_example_loads_and_masks_what_its_zones_require():
    settings = example_settings()
    assert settings.cameras, "the example should show cameras"
    assert any(c.masks for c in settings.cameras)
    assert settings.server.host in {"127.0.0.1", "::1", "localhost"}  # behind a proxy


def test_config_example_passes_its_policies():
    policy_check = pytest.importorskip("gateway.policy.check", reason="policy check not built yet")
    assert policy_check.check(example_settings()) == []

