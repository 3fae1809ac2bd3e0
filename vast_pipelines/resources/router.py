"""agent-router's ``.env``: switch ``USE_VASTAI`` and set ``VLLM_ENDPOINT_*`` atomically, and restart it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from vast_pipelines import clock
from vast_pipelines.resources.errors import NotConfigured, OperatorError

_ASSIGNMENT = re.compile(
    r"^(?P<prefix>\s*(?:export\s+)?)(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?P<eq>\s*=\s*)(?P<value>.*?)(?P<eol>\r?\n?)$"
)


class RouterFileError(OperatorError):
    """The agent-router ``.env`` could not be read or written."""


@dataclass(frozen=True)
class EnvChange:
    """One key's value before and after a write (``None``: absent)."""

    key: str
    before: str | None
    after: str
    changed: bool
    backup: str | None = None


@dataclass(frozen=True)
class RestartResult:
    """What the restart command did."""

    ran: bool
    returncode: int | None
    output: str


def unquote(value: str) -> str:
    """A ``.env`` value without surrounding quotes or a trailing comment."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value.split(" #", 1)[0].strip()


def read_value(text: str, key: str) -> str | None:
    """The last value ``key`` is given in ``.env`` text, as the shell would see it."""
    found = None
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match and match.group("key") == key:
            found = unquote(match.group("value"))
    return found


def set_value(text: str, key: str, value: str) -> str:
    """``text`` with ``key`` set to ``value``; other lines, comments, quoting style and line endings kept."""
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if any(line.endswith("\r\n") for line in lines) else "\n"
    replaced = False
    for i, line in enumerate(lines):
        match = _ASSIGNMENT.match(line)
        if match and match.group("key") == key:
            old = match.group("value").strip()
            quote = old[0] if len(old) >= 2 and old[0] == old[-1] and old[0] in "'\"" else ""
            lines[i] = f"{match.group('prefix')}{key}{match.group('eq')}{quote}{value}{quote}{match.group('eol')}"
            replaced = True
    if not replaced:
        if lines and not lines[-1].endswith(("\n", "\r\n")):
            lines[-1] += newline
        lines.append(f"{key}={value}{newline}")
    return "".join(lines)


def _read(path: Path) -> str:
    """The file's text with its own line endings (CRLF stays CRLF)."""
    with open(path, newline="") as handle:
        return handle.read()


class AgentRouterResource(dg.ConfigurableResource):
    """The agent-router's ``.env`` (``USE_VASTAI``, ``VLLM_ENDPOINT_*``) and its restart command."""

    env_file: str | None = Field(default=None, description="AGENT_ROUTER_ENV_FILE")
    restart_command: str | None = Field(default=None, description="AGENT_ROUTER_RESTART_COMMAND")
    restart_timeout_seconds: float = 120.0

    def _path(self) -> Path:
        if not self.env_file:
            raise NotConfigured(
                "AGENT_ROUTER_ENV_FILE is not set, so the agent-router cannot be switched. Set it to the router's "
                ".env (the guide's /Volumes/AgentPlatform/docker/.env)."
            )
        return Path(self.env_file)

    def read(self, key: str) -> str | None:
        """The current value of ``key`` in the router's ``.env``."""
        path = self._path()
        try:
            return read_value(_read(path), key)
        except OSError as exc:
            raise RouterFileError(f"Cannot read AGENT_ROUTER_ENV_FILE {path}: {exc.strerror or exc}") from None

    def plan(self, key: str, value: str) -> EnvChange:
        """What ``write`` would change, without changing anything (dry-run)."""
        before = self.read(key)
        return EnvChange(key, before, value, changed=before != value)

    def write(self, key: str, value: str) -> EnvChange:
        """Set ``key=value`` atomically: temp file in the same folder, fsync, rename; a backup is kept."""
        path = self._path()
        try:
            text = _read(path)
        except OSError as exc:
            raise RouterFileError(f"Cannot read AGENT_ROUTER_ENV_FILE {path}: {exc.strerror or exc}") from None
        before = read_value(text, key)
        if before == value:
            return EnvChange(key, before, value, changed=False)
        stamp = clock.now().strftime("%Y%m%dT%H%M%S%fZ")
        backup = path.with_name(f"{path.name}.bak-{stamp}")
        try:
            shutil.copy2(path, backup)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "w", newline="") as handle:
                    handle.write(set_value(text, key, value))
                    handle.flush()
                    os.fsync(handle.fileno())
                shutil.copymode(path, tmp)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise RouterFileError(
                f"Cannot write AGENT_ROUTER_ENV_FILE {path}: {exc.strerror or exc}; the file was left unchanged."
            ) from None
        return EnvChange(key, before, value, changed=True, backup=str(backup))

    def restart(self) -> RestartResult:
        """Run ``AGENT_ROUTER_RESTART_COMMAND`` with a timeout; not configured is reported, not raised."""
        if not self.restart_command:
            return RestartResult(False, None, "AGENT_ROUTER_RESTART_COMMAND is not set: restart agent-router by hand")
        try:
            done = subprocess.run(
                shlex.split(self.restart_command),
                capture_output=True,
                text=True,
                timeout=self.restart_timeout_seconds,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RouterFileError(
                f"AGENT_ROUTER_RESTART_COMMAND did not finish within {self.restart_timeout_seconds:g}s"
            ) from None
        except OSError as exc:
            raise RouterFileError(f"AGENT_ROUTER_RESTART_COMMAND could not start: {exc.strerror or exc}") from None
        output = (done.stdout + done.stderr).strip()[-2000:]
        if done.returncode != 0:
            raise RouterFileError(f"AGENT_ROUTER_RESTART_COMMAND exited with {done.returncode}: {output[-500:]}")
        return RestartResult(True, done.returncode, output)
