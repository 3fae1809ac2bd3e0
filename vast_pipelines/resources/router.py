"""agent-router's ``.env``: switch ``USE_VASTAI`` and set ``VLLM_ENDPOINT_*`` atomically, and restart it."""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dotenv import dotenv_values
from dotenv.parser import parse_stream
from pydantic import Field

from vast_pipelines import clock
from vast_pipelines.errors import NotConfigured, OperatorError

# One assignment line as python-dotenv reads it: the head up to the value, the value (quoted or not), and the
# tail (an inline comment needs whitespace before `#`, as in dotenv and the shell) with the line ending.
_LINE = re.compile(
    r"^(?P<head>\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.]*)\s*=[ \t]*)"
    r"(?P<value>'(?:\\'|[^'])*'|\"(?:\\\"|[^\"])*\"|[^\r\n]*?)"
    r"(?P<tail>(?:[ \t]+#[^\r\n]*)?[ \t]*\r?\n?)$",
    re.DOTALL,
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


def read_value(text: str, key: str) -> str | None:
    """The value ``key`` has in ``.env`` text, as python-dotenv (and agent-router) reads it: quotes removed, an
    inline comment dropped, the last assignment winning."""
    return dotenv_values(stream=io.StringIO(text), interpolate=False).get(key)


def _requote(value: str, quote: str) -> str:
    if quote == '"':
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if quote == "'":
        if "'" in value:
            raise RouterFileError(f"cannot write {value!r} in single quotes")
        return f"'{value}'"
    return value


def set_value(text: str, key: str, value: str) -> str:
    """``text`` with ``key`` set to ``value``, edited in place: every other line, the inline comment, the quoting
    style, ``export`` and the line endings kept (lines found by python-dotenv's parser)."""
    lines = [binding.original.string for binding in parse_stream(io.StringIO(text))]
    newline = "\r\n" if any(line.endswith("\r\n") for line in lines) else "\n"
    replaced = False
    for i, line in enumerate(lines):
        match = _LINE.match(line)
        if match and match.group("key") == key:
            old = match.group("value")
            quote = old[0] if len(old) >= 2 and old[0] == old[-1] and old[0] in "'\"" else ""
            lines[i] = f"{match.group('head')}{_requote(value, quote)}{match.group('tail')}"
            replaced = True
    if not replaced:
        if lines and not lines[-1].endswith(("\n", "\r\n")):
            lines[-1] += newline
        lines.append(f"{key}={value}{newline}")
    return "".join(lines)


def _keep_owner(path: Path, info: os.stat_result) -> None:
    """Give ``path`` the owner and group in ``info`` (agent-router's user must still read a 0600 file)."""
    if (path.stat().st_uid, path.stat().st_gid) != (info.st_uid, info.st_gid):
        os.chown(path, info.st_uid, info.st_gid)


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
        """Set ``key=value`` in place: a symlink is followed to its target, which is replaced atomically (temp file
        beside it, same owner, group and mode, fsync, rename); a backup is kept beside the target."""
        link = self._path()
        path = Path(os.path.realpath(link))
        try:
            text = _read(path)
            info = path.stat()
        except OSError as exc:
            raise RouterFileError(f"Cannot read AGENT_ROUTER_ENV_FILE {link}: {exc.strerror or exc}") from None
        before = read_value(text, key)
        if before == value:
            return EnvChange(key, before, value, changed=False)
        new_text = set_value(text, key, value)
        stamp = clock.now().strftime("%Y%m%dT%H%M%S%fZ")
        backup = path.with_name(f"{path.name}.bak-{stamp}")
        try:
            shutil.copy2(path, backup)
            _keep_owner(backup, info)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "w", newline="") as handle:
                    handle.write(new_text)
                    handle.flush()
                    _keep_owner(Path(tmp), info)
                    os.chmod(tmp, stat.S_IMODE(info.st_mode))
                    os.fsync(handle.fileno())
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
            where = f"{link} (→ {path})" if path != link else str(link)
            raise RouterFileError(
                f"Cannot write AGENT_ROUTER_ENV_FILE {where}: {exc.strerror or exc}; the file was left unchanged."
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
