"""Errors that tell an operator what to fix; none carries a secret."""


class OperatorError(RuntimeError):
    """A failure whose message says what is wrong and what to change."""


class NotConfigured(OperatorError):
    """A required setting (environment variable) is missing."""


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
