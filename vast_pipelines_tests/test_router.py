import os
import stat
import sys
from pathlib import Path

import pytest

from vast_pipelines.errors import NotConfigured
from vast_pipelines.resources.router import AgentRouterResource, RouterFileError, read_value, set_value

ENV = """# agent-router settings
export OPENAI_API_KEY="sk-keep-me"
USE_VASTAI=true  # flip to false for CPU fallback
VLLM_ENDPOINT='http://vastai-gpu:8000/v1'

LOG_LEVEL=info"""


def test_set_value_keeps_every_other_line_comment_and_quote():
    text = set_value(ENV, "USE_VASTAI", "false")
    assert text.splitlines()[2] == "USE_VASTAI=false  # flip to false for CPU fallback"
    assert [line for i, line in enumerate(text.splitlines()) if i != 2] == [
        line for i, line in enumerate(ENV.splitlines()) if i != 2
    ]
    quoted = set_value(ENV, "VLLM_ENDPOINT", "http://new:8000/v1")
    assert "VLLM_ENDPOINT='http://new:8000/v1'" in quoted
    added = set_value(ENV, "VLLM_ENDPOINT_LLAMA3", "http://x")
    assert added.endswith("LOG_LEVEL=info\nVLLM_ENDPOINT_LLAMA3=http://x\n")


def test_read_value_understands_export_quotes_comments_and_crlf():
    assert read_value(ENV, "OPENAI_API_KEY") == "sk-keep-me"
    assert read_value(ENV, "USE_VASTAI") == "true"
    assert read_value("A=1\r\nUSE_VASTAI=false\r\n", "USE_VASTAI") == "false"
    assert set_value("A=1\r\nUSE_VASTAI=true\r\n", "USE_VASTAI", "false") == "A=1\r\nUSE_VASTAI=false\r\n"


def test_write_is_atomic_with_a_backup_and_idempotent(tmp_path):
    env = tmp_path / ".env"
    env.write_text(ENV)
    env.chmod(0o640)
    router = AgentRouterResource(env_file=str(env))
    change = router.write("USE_VASTAI", "false")
    assert (change.before, change.after, change.changed) == ("true", "false", True)
    assert router.read("USE_VASTAI") == "false"
    assert Path(change.backup).read_text() == ENV
    assert stat.S_IMODE(env.stat().st_mode) == 0o640
    again = router.write("USE_VASTAI", "false")
    assert again.changed is False and again.backup is None
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".env.bak")) == [".env"]


def test_plan_changes_nothing(tmp_path):
    env = tmp_path / ".env"
    env.write_text(ENV)
    change = AgentRouterResource(env_file=str(env)).plan("USE_VASTAI", "false")
    assert change.changed and env.read_text() == ENV


def test_missing_or_unwritable_file_says_what_to_fix(tmp_path):
    with pytest.raises(NotConfigured, match="AGENT_ROUTER_ENV_FILE is not set"):
        AgentRouterResource().read("USE_VASTAI")
    with pytest.raises(RouterFileError, match="Cannot read AGENT_ROUTER_ENV_FILE"):
        AgentRouterResource(env_file=str(tmp_path / "missing.env")).write("USE_VASTAI", "false")
    if os.geteuid() != 0:  # root writes anywhere
        folder = tmp_path / "ro"
        folder.mkdir()
        (folder / ".env").write_text(ENV)
        folder.chmod(0o500)
        with pytest.raises(RouterFileError, match="left unchanged"):
            AgentRouterResource(env_file=str(folder / ".env")).write("USE_VASTAI", "false")
        assert (folder / ".env").read_text() == ENV


def test_restart_runs_the_command_with_a_timeout(tmp_path):
    marker = tmp_path / "restarted"
    ok = AgentRouterResource(restart_command=f"{sys.executable} -c \"open('{marker}', 'w').write('1')\"")
    assert ok.restart().ran and marker.exists()
    assert AgentRouterResource().restart().ran is False
    with pytest.raises(RouterFileError, match="exited with 3"):
        AgentRouterResource(restart_command=f"{sys.executable} -c 'raise SystemExit(3)'").restart()
    slow = AgentRouterResource(restart_command="sleep 5", restart_timeout_seconds=0.2)
    with pytest.raises(RouterFileError, match="did not finish"):
        slow.restart()
