"""Every deploy file against the code it deploys: render.yaml, .env.edge.template, the systemd unit, the NSSM
steps in the README, and setup_edge.sh (run twice in a scratch copy, on the CPU path)."""

from __future__ import annotations

import configparser
import getpass
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from support.environment import REDIS_URL, throwaway_postgres_database
from support.local_server import free_port

from app.config import API_ONLY_SETTINGS, Settings, default, load_settings
from app.errors import ConfigError
from app.main import create_app

ROOT = Path(__file__).resolve().parents[2]
# Variables Render itself reads; every other key of the blueprint must be a setting of the app.
RENDER_VARIABLES = {"PYTHON_VERSION"}
# Placeholders for the values an operator types into Render's dashboard (sync: false).
PLACEHOLDERS = {
    "UPSTASH_REDIS_REST_URL": "https://example.upstash.io",
    "UPSTASH_REDIS_REST_TOKEN": "token-from-upstash",
    "NEON_DATABASE_URL": "postgresql://user:secret@ep-example.neon.tech/neondb?sslmode=require",
    "QDRANT_URL": "https://example.qdrant.io:6333",
    "QDRANT_API_KEY": "key-from-qdrant-cloud",
}
SHUTDOWN_MARGIN_SECONDS = 15  # handing the job back and deregistering after the grace period


def settings_variables() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def secret_variables() -> set[str]:
    return {
        name.upper() for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
    }


# ---- render.yaml -------------------------------------------------------------------------------------------


def blueprint() -> dict:
    [service] = yaml.safe_load((ROOT / "render.yaml").read_text())["services"]
    return service


def test_render_blueprint_names_only_settings_and_hides_every_secret() -> None:
    service = blueprint()
    variables = {entry["key"]: entry for entry in service["envVars"]}
    assert set(variables) - RENDER_VARIABLES <= settings_variables(), "a key the app does not read"
    assert variables["MODE"]["value"] == "CLOUD"
    assert variables["PHAROS_ADMIN_TOKEN"] == {"key": "PHAROS_ADMIN_TOKEN", "generateValue": True}
    for name in secret_variables() & set(variables):
        entry = variables[name]
        assert entry.get("sync") is False or entry.get("generateValue") is True, name
        assert "value" not in entry, f"{name}: a secret written into the blueprint"
    for name in PLACEHOLDERS:
        assert variables[name].get("sync") is False, f"{name} must be typed in Render's dashboard"


def test_render_blueprint_gives_the_cloud_app_everything_it_needs() -> None:
    service = blueprint()
    env = {
        entry["key"]: entry.get("value")
        for entry in service["envVars"]
        if entry["key"] not in RENDER_VARIABLES
    }
    env |= {name: PLACEHOLDERS[name] for name in env if name in PLACEHOLDERS} | {
        "PHAROS_ADMIN_TOKEN": "generated-by-render-blueprint"
    }
    settings = load_settings(**{name.lower(): value for name, value in env.items()})
    settings.require_shared_stores()
    # Each variable the blueprint provides is needed: without it the cloud app refuses to start.
    for name in ("PHAROS_ADMIN_TOKEN", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "NEON_DATABASE_URL",
                 "QDRANT_URL"):  # fmt: skip
        with pytest.raises(ConfigError):
            load_settings(**{k.lower(): v for k, v in env.items() if k != name}).require_shared_stores()
    assert service["buildCommand"] == "pip install -r requirements-cloud.txt"
    assert (ROOT / "requirements-cloud.txt").is_file()
    assert service["startCommand"].startswith("uvicorn app.main:app ")
    assert service["healthCheckPath"] in create_app(settings).openapi()["paths"]
    assert service["plan"] == "free"


def test_render_start_command_serves_the_cloud_app(key_prefix: str, tmp_path: Path) -> None:
    """The blueprint's start command as Render runs it (httptools, uvloop), on this machine's stores."""
    port = free_port()
    command = blueprint()["startCommand"].replace("$PORT", str(port)).replace("0.0.0.0", "127.0.0.1")
    with throwaway_postgres_database() as database_url:
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "MODE": "CLOUD",
            "PHAROS_ADMIN_TOKEN": "render-start-command-token",
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": key_prefix,
            "NEON_DATABASE_URL": database_url,
            "ALLOW_EMBEDDED_STORES": "true",  # Qdrant's local mode: no Qdrant server here
            "DATA_DIR": str(tmp_path),
        }
        process = subprocess.Popen(command.split(), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)  # fmt: skip
        try:
            answer = _first_answer(f"http://127.0.0.1:{port}/health", process)
        finally:
            process.terminate()
            output = process.communicate(timeout=30)[0]
    assert answer == 200, output


def _first_answer(url: str, process: subprocess.Popen, seconds: float = 60) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return httpx.get(url, timeout=2).status_code
        except httpx.TransportError:
            time.sleep(0.2)
    return -1


# ---- .env.edge.template -----------------------------------------------------------------------------------


def template_lines() -> dict[str, tuple[str, bool]]:
    """Variable → (value, commented) for every `NAME=value` or `# NAME=value` line."""
    found = {}
    for line in (ROOT / ".env.edge.template").read_text().splitlines():
        match = re.fullmatch(r"(#\s*)?([A-Z][A-Z0-9_]*)=(\S*)(.*)", line.strip())
        if match:
            found[match.group(2)] = (match.group(3), bool(match.group(1)), "(example" in match.group(4))
    return found


def test_the_edge_template_lists_every_variable_the_worker_reads() -> None:
    listed = template_lines()
    wanted = {name.upper() for name in Settings.model_fields if name not in API_ONLY_SETTINGS}
    assert set(listed) == wanted, {
        "missing": wanted - set(listed),
        "not a worker setting": set(listed) - wanted,
    }


def test_the_edge_template_shows_the_real_defaults() -> None:
    for name, (value, commented, example) in template_lines().items():
        if not commented or example:
            continue
        field = name.lower()
        parsed = getattr(load_settings(**{field: value} if value else {}), field)
        assert parsed == default(field), f"{name}={value} in the template, default {default(field)!r}"


def test_the_filled_in_edge_template_is_valid_edge_settings(tmp_path: Path) -> None:
    lines = []
    for line in (ROOT / ".env.edge.template").read_text().splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={PLACEHOLDERS[name]}" if name in PLACEHOLDERS else line)
    env_file = tmp_path / ".env.edge"
    env_file.write_text("\n".join(lines) + "\n")
    settings = Settings(_env_file=env_file)
    assert settings.mode.value == "EDGE" and settings.redis_backend.value == "upstash"
    assert settings.database_url and settings.qdrant_url


# ---- the systemd unit --------------------------------------------------------------------------------------


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string((ROOT / "neo-alexandria-worker.service").read_text())
    return parser


def test_the_unit_stops_after_the_grace_period_and_rate_limits_restarts() -> None:
    parsed = unit()
    service = parsed["Service"]
    lines = (ROOT / "neo-alexandria-worker.service").read_text().splitlines()
    environment = dict(
        line.removeprefix("Environment=").split("=", 1) for line in lines if line.startswith("Environment=")
    )
    grace = float(environment.get("SHUTDOWN_GRACE_SECONDS", default("shutdown_grace_seconds")))
    assert grace == default("shutdown_grace_seconds")
    assert int(service["TimeoutStopSec"]) >= grace + SHUTDOWN_MARGIN_SECONDS
    assert service["KillSignal"] == "SIGTERM"
    assert service["Restart"] in ("on-failure", "always")
    assert int(parsed["Unit"]["StartLimitBurst"]) >= 1 and int(parsed["Unit"]["StartLimitIntervalSec"]) > 0
    assert int(parsed["Unit"]["StartLimitIntervalSec"]) > int(service["RestartSec"]) * int(
        parsed["Unit"]["StartLimitBurst"]
    )
    assert service["ExecStart"].endswith("/.venv/bin/python worker.py")


def test_the_unit_passes_systemd_analyze_verify_with_its_paths_substituted(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (apt-get install systemd); the unit cannot be verified")
    text = (ROOT / "neo-alexandria-worker.service").read_text()
    (tmp_path / ".env.edge").write_text("MODE=EDGE\n")
    text = (text.replace("User=neo", f"User={getpass.getuser()}")
            .replace("/opt/neo-alexandria/.venv/bin/python", sys.executable)
            .replace("/opt/neo-alexandria", str(tmp_path)))  # fmt: skip
    path = tmp_path / "neo-alexandria-worker.service"
    path.write_text(text)
    result = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)  # fmt: skip
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if path.name in line]
    assert result.returncode == 0 and complaints == [], result.stdout + result.stderr
    broken = tmp_path / "broken.service"
    broken.write_text(text.replace(sys.executable, str(tmp_path / "no-such-python")))
    assert subprocess.run([analyze, "verify", str(broken)], capture_output=True, timeout=60).returncode != 0


# ---- NSSM (Windows) ----------------------------------------------------------------------------------------


def nssm_commands() -> list[str]:
    return [
        line.strip()
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.strip().startswith("nssm ")
    ]


def test_the_readme_nssm_steps_install_configure_stop_gently_and_rotate_logs() -> None:
    commands = nssm_commands()
    joined = "\n".join(commands)
    assert re.search(r"^nssm install NeoAlexandriaWorker \S+python\.exe worker\.py$", joined, re.M)
    assert "nssm set NeoAlexandriaWorker AppDirectory " in joined
    assert re.search(r"AppEnvironmentExtra MODE=EDGE", joined)
    # Ctrl+C reaches Python as SIGINT: the warm stop. NSSM must wait past the grace period before it kills.
    [console] = re.findall(r"AppStopMethodConsole (\d+)", joined)
    assert int(console) >= (default("shutdown_grace_seconds") + SHUTDOWN_MARGIN_SECONDS) * 1000
    assert re.search(r"AppStopMethodSkip 6\b", joined), "skip WM_CLOSE and thread messages: only Ctrl+C"
    for setting in ("AppStdout", "AppStderr", "AppRotateFiles 1", "AppRotateOnline 1", "AppRotateBytes"):
        assert f"NeoAlexandriaWorker {setting}" in joined, setting
    assert re.search(r"AppExit Default Restart", joined) and re.search(r"AppThrottle \d+", joined)
    assert commands[-1] == "nssm start NeoAlexandriaWorker"


# ---- setup_edge.sh -----------------------------------------------------------------------------------------


def local_cpu_torch_index(tmp_path: Path) -> str | None:
    """A PEP 503 index holding this machine's CPU torch wheel, if it has one (no network reaches PyTorch's)."""
    folders = [Path(p) for p in os.environ.get("PIP_FIND_LINKS", "/opt/wheels").split()]
    wheels = [w for folder in folders if folder.is_dir() for w in folder.glob("torch-2.13.0+cpu-*.whl")]
    if not wheels:
        return None
    (tmp_path / "index" / "torch").mkdir(parents=True)
    links = "".join(f'<a href="{w.as_uri()}">{w.name}</a>\n' for w in wheels)
    (tmp_path / "index" / "torch" / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")
    return (tmp_path / "index").as_uri()


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_setup_edge_is_idempotent_on_the_cpu_path(tmp_path: Path, key_prefix: str) -> None:
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has an NVIDIA GPU: setup_edge.sh would take the CUDA path")
    index = local_cpu_torch_index(tmp_path)
    if index is None:
        pytest.fail("no torch-2.13.0+cpu wheel on this machine to stand in for PyTorch's CPU index")
    scratch = tmp_path / "copy"
    scratch.mkdir()
    for name in [
        "setup_edge.sh",
        "worker.py",
        ".env.edge.template",
        *(p.name for p in ROOT.glob("requirements-*.txt")),
    ]:
        shutil.copy2(ROOT / name, scratch / name)
    shutil.copytree(ROOT / "app", scratch / "app", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "TORCH_CPU_INDEX": index, "PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}

    def setup() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "setup_edge.sh"], cwd=scratch, env=env, capture_output=True, text=True,
                              timeout=840)  # fmt: skip

    first = setup()
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "No NVIDIA GPU found" in first.stdout and "Created .env.edge" in first.stdout
    assert (scratch / ".env.edge").read_text() == (ROOT / ".env.edge.template").read_text()
    packages = subprocess.run([str(scratch / ".venv/bin/python"), "-m", "pip", "list", "--format=freeze"],
                              capture_output=True, text=True, check=True).stdout.lower()  # fmt: skip
    assert "torch==2.13.0+cpu" in packages and "nvidia-" not in packages, "a CUDA build of torch came in"

    (scratch / ".env.edge").write_text(
        f"MODE=EDGE\nREDIS_URL={REDIS_URL}\nREDIS_KEY_PREFIX={key_prefix}\n"
        f"DATA_DIR={scratch / 'data'}\nWORKSPACE_DIR={scratch / 'jobs'}\n"
    )
    second = setup()
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert (
        "Using the existing .venv" in second.stdout
        and "PyTorch 2.13.0+cpu is installed already" in second.stdout
    )
    assert "Installing collected packages" not in second.stdout, "the second run installed something again"
    assert "Keeping the existing .env.edge" in second.stdout and "on this machine only" in second.stdout
    assert (scratch / ".env.edge").read_text().startswith("MODE=EDGE\nREDIS_URL=")
