"""deploy/docker/Dockerfile: hadolint-clean, and its install steps really produce a runnable service.

No Docker engine runs on this machine, so the image is never built here. Instead the build stage's
own COPY and ``uv sync`` instructions are replayed, in order, into a scratch directory (the same
files in the same layers, the same flags with SERVICE substituted), and the resulting environment is
asked to import the service and run the migration entrypoint. A workspace member the Dockerfile
forgets to copy, or a package name it gets wrong, fails here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = REPO / "deploy" / "docker" / "Dockerfile.dockerignore"
HADOLINT = Path(sys.executable).parent / "hadolint"
# What the image must not carry: the test kit and the dev tools stay out of production images.
TEST_ONLY = ("moto", "pytest", "guardian_testkit", "mypy", "ruff")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def instructions(text: str) -> Iterator[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    logical = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, args = logical.partition(" ")
        yield Instruction(keyword.upper(), args.strip())
        logical = ""


def stages(text: str) -> dict[str, list[Instruction]]:
    found: dict[str, list[Instruction]] = {}
    current: list[Instruction] = []
    for ins in instructions(text):
        if ins.keyword == "FROM":
            current = []
            found[ins.args.split()[-1]] = current
        current.append(ins)
    return found


def hadolint(path: Path) -> list[dict[str, str]]:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings: list[dict[str, str]] = json.loads(result.stdout or "[]")
    return findings


def uv_binary() -> list[str]:
    # `uv run` tells its children where uv is; otherwise use the one on PATH or the module.
    if os.environ.get("UV"):
        return [os.environ["UV"]]
    if shutil.which("uv"):
        return ["uv"]
    return ["python3", "-m", "uv"]


# --- lint -----------------------------------------------------------------------------------------


def test_hadolint_finds_nothing_above_info() -> None:
    findings = hadolint(DOCKERFILE)
    assert [f for f in findings if f["level"] not in ("info", "style")] == []


def test_hadolint_is_really_looking(tmp_path: Path) -> None:
    sloppy = tmp_path / "Dockerfile"
    sloppy.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN pip install uv\n")
    codes = {f["code"] for f in hadolint(sloppy)}
    assert {"DL3007", "DL3008", "DL3013"} <= codes


# --- what the image promises ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def built() -> dict[str, list[Instruction]]:
    return stages(DOCKERFILE.read_text())


def test_two_stages_and_only_the_environment_reaches_the_runtime(built: dict[str, list[Instruction]]) -> None:
    assert list(built) == ["build", "runtime"]
    runtime_copies = [i.args for i in built["runtime"] if i.keyword == "COPY"]
    assert runtime_copies == ["--from=build /opt/guardian/venv /opt/guardian/venv"]
    assert built["build"][0].args.startswith("python:3.11-slim")
    assert built["runtime"][0].args.startswith("python:3.11-slim")


def test_the_build_installs_one_member_from_the_lock_file(built: dict[str, list[Instruction]]) -> None:
    syncs = [i.args for i in built["build"] if i.keyword == "RUN" and "uv sync" in i.args]
    assert len(syncs) == 2
    for command in syncs:
        assert "--frozen --no-dev" in command
        assert '--package "guardian-${SERVICE}"' in command
    assert "--no-install-workspace" in syncs[0]
    assert "--no-editable" in syncs[1]


def test_the_runtime_is_non_root_read_only_friendly_and_health_checked(built: dict[str, list[Instruction]]) -> None:
    runtime = built["runtime"]
    (user,) = [i.args for i in runtime if i.keyword == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert int(uid) != 0
    assert gid.isdigit()
    env = " ".join(i.args for i in runtime if i.keyword == "ENV")
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "HOME=/tmp", "TMPDIR=/tmp", "GUARDIAN_HOST=0.0.0.0"):
        assert setting in env
    # Bytecode is compiled in the build stage, since nothing can write it at run time.
    assert "UV_COMPILE_BYTECODE=1" in " ".join(i.args for i in built["build"] if i.keyword == "ENV")
    (health,) = [i.args for i in runtime if i.keyword == "HEALTHCHECK"]
    assert "/readyz" in health
    (cmd,) = [i.args for i in runtime if i.keyword == "CMD"]
    assert json.loads(cmd) == ["/bin/sh", "-c", 'exec python -m "${GUARDIAN_SERVICE_MODULE}"']
    assert any(i.keyword == "ARG" and i.args == "SERVICE_MODULE=guardian_${SERVICE}" for i in runtime)


def test_every_workspace_member_is_copied_before_the_dependency_layer(built: dict[str, list[Instruction]]) -> None:
    members = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    first_sync = next(n for n, i in enumerate(built["build"]) if i.keyword == "RUN" and "uv sync" in i.args)
    copied = {
        i.args.split()[0].removesuffix("/pyproject.toml")
        for i in built["build"][:first_sync]
        if i.keyword == "COPY" and i.args.endswith("/")
    }
    assert set(members) <= copied


def test_the_build_accepts_every_service_and_refuses_anything_else(built: dict[str, list[Instruction]]) -> None:
    """The SERVICE guard's list is the services/ directory plus the cli: a new service cannot be forgotten."""
    (guard,) = [i.args for i in built["build"] if i.keyword == "RUN" and "case" in i.args]
    match = re.search(r'case "\$\{SERVICE\}" in\s+([a-z|]+)\)', guard)
    assert match is not None, guard
    accepted = set(match.group(1).split("|"))
    services = {d.name for d in (REPO / "services").iterdir() if (d / "pyproject.toml").is_file()}
    assert accepted == services | {"cli"}
    # Anything else stops the build with a message naming the choices.
    assert "exit 1" in guard
    for service in services:
        assert service in guard.split("*)", 1)[1]


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")}
    assert {"**/.venv", "**/__pycache__", ".git", "**/tests"} <= ignored


# --- replaying the build stage --------------------------------------------------------------------


def replay_build(service: str, workdir: Path, venv: Path) -> None:
    """Run the build stage's COPY and `uv sync` instructions for ``service`` outside Docker."""
    src = workdir / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", ".venv", ".pytest_cache", ".mypy_cache")
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_LINK_MODE": "copy",
        "UV_PYTHON_DOWNLOADS": "never",
        # The image compiles bytecode; skipping it here only saves time.
        "UV_COMPILE_BYTECODE": "0",
        "VIRTUAL_ENV": "",
    }
    for ins in stages(DOCKERFILE.read_text())["build"]:
        if ins.keyword == "COPY":
            # Docker's rules: a directory source copies its contents; with a destination ending in
            # "/" (or several sources) a file lands inside that directory.
            *sources, dest = [a for a in shlex.split(ins.args) if not a.startswith("--")]
            into_directory = dest.endswith("/") or len(sources) > 1
            for source in sources:
                origin = REPO / source
                if origin.is_dir():
                    shutil.copytree(origin, src / dest, ignore=ignore, dirs_exist_ok=True)
                else:
                    target = src / dest / origin.name if into_directory else src / dest
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target)
        elif ins.keyword == "RUN" and "uv sync" in ins.args:
            match = re.search(r"uv sync[^;&|]*", ins.args)
            assert match is not None
            command = shlex.split(match.group(0).replace("${SERVICE}", service))
            result = subprocess.run(
                [*uv_binary(), *command[1:]],
                cwd=src,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize(
    "service", ["gateway", "collector", "evaluator", "compliance", "evidence", "reporting", "remediation"]
)
def test_the_build_steps_produce_a_slim_environment_that_starts_the_service(tmp_path: Path, service: str) -> None:
    module = f"guardian_{service}"
    venv = tmp_path / "venv"
    replay_build(service, tmp_path, venv)
    python = str(venv / "bin" / "python")
    probe = (
        "import importlib.util, json, sys\n"
        f"import {module}.__main__, {module}.app\n"
        "from guardian_common.migrate_cli import TARGETS\n"
        # The migration step runs in this image: the schema's migrations must be in it.
        f"assert {service!r} not in TARGETS or importlib.util.find_spec(TARGETS[{service!r}].package)\n"
        f"print(json.dumps([m for m in {list(TEST_ONLY)!r} if importlib.util.find_spec(m)]))\n"
    )
    # Run from outside the scratch tree so nothing resolves from source directories.
    result = subprocess.run(
        [python, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == []
    # Installed as wheels: nothing in the environment points back into the build's source tree.
    path_files = list(venv.glob("lib/python3*/site-packages/*.pth"))
    assert [pth.name for pth in path_files if str(tmp_path / "src") in pth.read_text()] == []
    migrate = subprocess.run(
        [python, "-m", "guardian_common.migrate_cli", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert migrate.returncode == 0
    assert "--service" in migrate.stdout
