"""Which Secret keys each provider, channel and gateway auth mode needs, and the variable the
gateway reads each from; key names follow the seed's values file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SecretKey:
    name: str  # key in the Secret, as in the seed's values file
    env_var: str  # environment variable the gateway reads
    generated: bool = False  # filled with a random value when empty


# Which Secret keys each provider and channel needs; key names follow the seed's values file.
PROVIDER_KEYS: dict[str, tuple[SecretKey, ...]] = {
    "anthropic": (SecretKey("anthropicApiKey", "ANTHROPIC_API_KEY"),),
    "openai": (SecretKey("openaiApiKey", "OPENAI_API_KEY"),),
    "gemini": (SecretKey("geminiApiKey", "GEMINI_API_KEY"),),
    "openrouter": (SecretKey("openrouterApiKey", "OPENROUTER_API_KEY"),),
}
CHANNEL_KEYS: dict[str, tuple[SecretKey, ...]] = {
    "discord": (SecretKey("discordBotToken", "DISCORD_BOT_TOKEN"),),
    "telegram": (SecretKey("telegramBotToken", "TELEGRAM_BOT_TOKEN"),),
    "slack": (SecretKey("slackBotToken", "SLACK_BOT_TOKEN"), SecretKey("slackAppToken", "SLACK_APP_TOKEN")),
}
AUTH_KEYS: dict[str, SecretKey] = {
    "token": SecretKey("gatewayToken", "OPENCLAW_GATEWAY_TOKEN", generated=True),
    "password": SecretKey("gatewayPassword", "OPENCLAW_GATEWAY_PASSWORD", generated=True),
}
