"""Tailscale peer state from ``tailscale status --json``; "unknown" where the CLI is absent."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass

import dagster as dg
from pydantic import Field


@dataclass(frozen=True)
class PeerState:
    """What Tailscale says of the GPU host: active, idle, offline, not found, or unknown."""

    state: str
    detail: str = ""


def peer_state_from_status(status: dict, peer: str) -> PeerState:
    """Find ``peer`` (host name or MagicDNS name prefix) in ``tailscale status --json`` output."""
    if status.get("BackendState") not in (None, "Running"):
        return PeerState("offline", f"tailscale on this host is {status.get('BackendState')}")
    for node in (status.get("Peer") or {}).values():
        names = {str(node.get("HostName", "")).lower(), str(node.get("DNSName", "")).split(".")[0].lower()}
        if peer.lower() in names:
            if not node.get("Online"):
                return PeerState("offline", f"{peer} is offline on the tailnet")
            return PeerState("active" if node.get("Active") else "idle", f"{peer} is online")
    return PeerState("not found", f"{peer} is not a peer of this tailnet")


class TailscaleResource(dg.ConfigurableResource):
    """Asks the local Tailscale CLI whether the GPU host is reachable on the tailnet."""

    binary: str = Field(default="tailscale", description="The tailscale CLI.")
    peer: str = Field(default="vastai-gpu", description="The GPU host's tailnet name.")
    timeout_seconds: float = 10.0

    def peer_state(self) -> PeerState:
        """The peer's state, or "unknown" with the reason when the CLI is missing or fails."""
        path = shutil.which(self.binary)
        if path is None:
            return PeerState("unknown", f"`{self.binary}` CLI not found on this host")
        try:
            done = subprocess.run(
                [path, "status", "--json"], capture_output=True, text=True, timeout=self.timeout_seconds, check=False
            )
        except subprocess.TimeoutExpired:
            return PeerState("unknown", f"`tailscale status` did not answer within {self.timeout_seconds:g}s")
        if done.returncode != 0:
            return PeerState("unknown", f"`tailscale status` failed: {done.stderr.strip()[:200]}")
        try:
            return peer_state_from_status(json.loads(done.stdout), self.peer)
        except (ValueError, AttributeError):
            return PeerState("unknown", "`tailscale status --json` did not return JSON")
