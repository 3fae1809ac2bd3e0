"""deploy/vllm/Dockerfile is not built here (no Docker engine); its CMD is run as Docker would run it."""

import json
import re
import subprocess
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[1] / "deploy" / "vllm" / "Dockerfile"
GUIDE_CMD = ["python", "-m", "vllm.entrypoints.openai.api_server", "--model", "${MODEL_NAME}"]


def instruction(name: str) -> list[str]:
    """Every argument of ``name`` instructions, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [line.split(None, 1)[1] if " " in line else "" for line in text.splitlines() if line.startswith(name + " ")]


@pytest.fixture
def stub_path(tmp_path: Path) -> Path:
    """A PATH where `vllm` and `python` print the arguments they were given, one per line."""
    for name in ("vllm", "python"):
        stub = tmp_path / name
        stub.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
        stub.chmod(0o755)
    return tmp_path


def run_exec_form(command: list[str], path: Path, **env: str) -> list[str]:
    """Run a JSON-array CMD as Docker does: no shell around it, the image's environment given."""
    done = subprocess.run(
        command, env={"PATH": f"{path}:/usr/bin:/bin", **env}, capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def test_the_model_is_a_build_argument_baked_into_the_environment():
    assert "MODEL_NAME=meta-llama/Llama-3-8b" in instruction("ARG")
    [env, offline] = instruction("ENV")
    assert env.startswith("MODEL_NAME=${MODEL_NAME}") and offline == "HF_HUB_OFFLINE=1"
    [download] = instruction("RUN")
    assert "--mount=type=secret,id=hf_token" in download and 'snapshot_download(os.environ["MODEL_NAME"])' in download
    assert instruction("ENTRYPOINT") == ["[]"]  # the base image's `vllm serve` would be prepended otherwise


def test_cmd_expands_the_model_name_where_the_guides_cmd_does_not(stub_path):
    [cmd] = instruction("CMD")
    command = json.loads(cmd)
    assert command[:2] == ["/bin/sh", "-c"]
    args = run_exec_form(command, stub_path, MODEL_NAME="meta-llama/Llama-3-8b")
    assert args == ["serve", "meta-llama/Llama-3-8b", "--host", "0.0.0.0", "--port", "8000"]
    extra = run_exec_form(command, stub_path, MODEL_NAME="m/x", VLLM_ARGS="--max-model-len 8192")
    assert extra[-2:] == ["--max-model-len", "8192"]
    # The guide's JSON-array CMD hands vLLM the literal text.
    assert run_exec_form(GUIDE_CMD, stub_path, MODEL_NAME="meta-llama/Llama-3-8b")[-1] == "${MODEL_NAME}"
