"""Slack delivery through ``slack_sdk.WebClient`` with its own retry handlers."""

from __future__ import annotations

import hashlib
import logging
import threading
import time

import dagster as dg
from pydantic import Field
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from vast_pipelines.domain.outbox import Delivery
from vast_pipelines.errors import redact

log = logging.getLogger(__name__)

# Resolved user-group handles, per Slack workspace (API URL and a hash of the token): (mention, expires at).
# A handle rarely moves to another group; an hour keeps usergroups.list off the paging path.
MENTION_TTL_SECONDS = 3600.0
_MENTIONS: dict[tuple[str, str, str], tuple[str, float]] = {}
_MENTIONS_LOCK = threading.Lock()


class SlackResource(dg.ConfigurableResource):
    """Posts to the guide's channels; without a token, messages stay in the outbox as not configured."""

    bot_token: str | None = Field(default=None, description="SLACK_BOT_TOKEN")
    api_url: str | None = Field(default=None, description="SLACK_API_URL: WebClient base_url (Slack's own if unset).")
    alerts_channel: str = Field(default="#platform-alerts", description="SLACK_ALERTS_CHANNEL")
    updates_channel: str = Field(default="#platform-updates", description="SLACK_UPDATES_CHANNEL")
    incidents_channel: str = Field(default="#incidents", description="SLACK_INCIDENTS_CHANNEL")
    oncall_mention: str = Field(
        default="@platform-ops",
        description="SLACK_ONCALL_MENTION: a user-group handle (@platform-ops, resolved with usergroups.list) or "
        "<!subteam^ID>",
    )
    timeout_seconds: int = 10
    rate_limit_retries: int = Field(default=2, description="Retries after a 429 (waits Retry-After).")
    server_error_retries: int = 2

    @property
    def configured(self) -> bool:
        """Whether a bot token is set."""
        return bool(self.bot_token)

    def client(self) -> WebClient:
        """A WebClient with rate-limit, connection and server-error retry handlers."""
        kwargs = {"base_url": self._base_url()} if self.api_url else {}
        return WebClient(
            token=self.bot_token,
            timeout=self.timeout_seconds,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=1),
                RateLimitErrorRetryHandler(max_retry_count=self.rate_limit_retries),
                ServerErrorRetryHandler(max_retry_count=self.server_error_retries),
            ],
            **kwargs,
        )

    def _base_url(self) -> str:
        return (self.api_url or "").rstrip("/") + "/"

    def resolved_mention(self) -> str:
        """SLACK_ONCALL_MENTION in the form Slack pages with: ``<!subteam^ID>`` (or ``<@U…>``, ``<!here>``) as
        given; a handle like ``@platform-ops`` looked up with ``usergroups.list`` (cached for an hour). A handle
        that cannot be resolved stays plain text (it pages nobody) and the reason is logged."""
        mention = self.oncall_mention.strip()
        if mention.startswith("<") or not mention.startswith("@") or not self.configured:
            return mention
        handle = mention[1:]
        key = (self._base_url(), hashlib.sha256((self.bot_token or "").encode()).hexdigest()[:16], handle)
        with _MENTIONS_LOCK:
            cached = _MENTIONS.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        try:
            groups = self.client().usergroups_list(include_disabled=False).get("usergroups") or []
        except (SlackApiError, SlackClientError, OSError) as exc:
            code = (
                exc.response.get("error") if isinstance(exc, SlackApiError) and hasattr(exc.response, "get") else None
            )
            log.warning(
                f"SLACK_ONCALL_MENTION {mention} could not be resolved to a user group "
                f"({self._safe(str(code or type(exc).__name__))}); it is sent as plain text and pages nobody. "
                "Give the bot the usergroups:read scope, or set SLACK_ONCALL_MENTION to <!subteam^ID>."
            )
            return mention
        found = next((g["id"] for g in groups if g.get("handle") == handle and g.get("id")), None)
        if found is None:
            log.warning(f"SLACK_ONCALL_MENTION {mention}: no Slack user group has the handle {handle!r}")
            return mention
        resolved = f"<!subteam^{found}>"
        with _MENTIONS_LOCK:
            _MENTIONS[key] = (resolved, time.monotonic() + MENTION_TTL_SECONDS)
        return resolved

    def page_text(self, text: str) -> str:
        """``text`` with the on-call handle replaced by the form that pages (see ``resolved_mention``)."""
        mention = self.oncall_mention.strip()
        if not mention or mention not in text:
            return text
        return text.replace(mention, self.resolved_mention())

    def post_message(self, channel: str, text: str) -> Delivery:
        """``chat.postMessage``; never raises."""
        if not self.configured:
            return Delivery("not_configured", error="SLACK_BOT_TOKEN is not set")
        return self._attempt(lambda c: c.chat_postMessage(channel=channel, text=text, mrkdwn=True), "ts")

    def upload_file(self, channel: str, filename: str, content: bytes, title: str, comment: str) -> Delivery:
        """Upload a file (a chart) to ``channel`` with ``comment`` as its message; never raises."""
        if not self.configured:
            return Delivery("not_configured", error="SLACK_BOT_TOKEN is not set")
        channel_id = channel
        if channel.startswith("#"):
            found = self._attempt(lambda c: self._channel_id(c, channel.lstrip("#")), None)
            if found.status != "delivered":
                return found
            channel_id = found.ref or channel
        return self._attempt(
            lambda c: c.files_upload_v2(
                channel=channel_id, filename=filename, content=content, title=title, initial_comment=comment
            ),
            "file",
        )

    @staticmethod
    def _channel_id(client: WebClient, name: str) -> str:
        # files.upload v2 wants a channel ID, not a #name.
        cursor = None
        while True:
            page = client.conversations_list(limit=200, cursor=cursor, exclude_archived=True)
            for ch in page.get("channels", []):
                if ch.get("name") == name:
                    return ch["id"]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                raise SlackApiError(f"channel #{name} not found", page)

    def _attempt(self, call, ref_key: str | None) -> Delivery:
        try:
            result = call(self.client())
        except SlackApiError as exc:
            code = exc.response.get("error") if hasattr(exc.response, "get") else None
            return Delivery("failed", error=self._safe(f"Slack API error: {code or exc}"))
        except (SlackClientError, OSError) as exc:
            return Delivery("failed", error=self._safe(f"Slack unreachable: {type(exc).__name__}: {exc}"))
        if isinstance(result, str):
            return Delivery("delivered", ref=result)
        ref = result.get(ref_key) if ref_key == "ts" else (result.get("file") or {}).get("id") if ref_key else None
        return Delivery("delivered", ref=str(ref) if ref else None)

    def _safe(self, text: str) -> str:
        return redact(text, self.bot_token)[:500]
