"""A secret value as it may be shown: never itself, only its length and, for a long value
that starts with a provider's published key prefix, that prefix (`sk-ant-…(51 chars)`), which
tells which kind of key it is and nothing of the key."""

from __future__ import annotations

# Published by the providers and the same in every key they issue. A random value (a
# generated gatewayToken) may start with anything: only these are ever shown.
PUBLIC_PREFIXES = ("sk-ant-", "sk-or-", "sk-proj-", "sk-", "xoxb-", "xapp-", "ghp_", "glpat-")
_PREFIX_MINIMUM = 20  # a shorter value shows its length only


def masked(value: str) -> str | None:
    """`value` masked: its public prefix (when it has one) and its length; None when empty."""
    if not value:
        return None
    prefix = next((p for p in PUBLIC_PREFIXES if value.startswith(p)), "") \
        if len(value) >= _PREFIX_MINIMUM else ""
    return f"{prefix}…({len(value)} char{'s' if len(value) != 1 else ''})"
