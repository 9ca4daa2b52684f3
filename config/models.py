"""The ``models:`` section: provider instances and tiers of ``provider:model`` fallback chains."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from config.durations import Duration
from config.errors import key_error
from config.fields import HttpUrl, Secret


@dataclass(frozen=True, slots=True)
class ModelRef:
    """One entry of a tier's chain: a configured provider's name and a model name."""

    provider: str
    model: str

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse ``"provider:model"``; the model may itself contain colons (``local:llama3:8b``).

        Raises:
            ValueError: Either part is missing.
        """
        provider, separator, model = text.partition(":")
        if not separator or not provider.strip() or not model.strip():
            raise ValueError(f'expected "provider:model", got {text!r}')
        return cls(provider.strip(), model.strip())

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


def _check_model_ref(text: str) -> str:
    try:
        ModelRef.parse(text)
    except ValueError:
        raise PydanticCustomError("model_ref", 'must be "provider:model"') from None
    return text


ModelRefText = Annotated[str, AfterValidator(_check_model_ref)]


class ProviderSettings(BaseModel):
    """A named LLM provider instance (``models.providers.<name>``).

    Attributes:
        kind: Which API it speaks; ``openai`` also covers OpenAI-compatible servers (Ollama, vLLM).
        api_key: The key; None lets the SDK read its own environment variable.
        base_url: None lets the SDK read ``ANTHROPIC_BASE_URL`` / ``OPENAI_BASE_URL`` or use its
            default.
        timeout: Per-request timeout.
        max_retries: Retries the SDK itself makes before reporting an error.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["anthropic", "openai"]
    api_key: Secret | None = None
    base_url: HttpUrl | None = None
    timeout: Duration = timedelta(seconds=60)
    max_retries: int = Field(default=2, ge=0)


class ModelsSettings(BaseModel):
    """The ``models:`` section.

    Attributes:
        providers: Provider instances by the name used in tier entries.
        tiers: Tier name → ordered fallback chain of ``"provider:model"``; each chain is non-empty
            and names configured providers only.
        cache_ttl: Anthropic prompt-cache TTL.
        max_output_tokens: Cap on tokens generated per model call.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    tiers: dict[str, Annotated[list[ModelRefText], Field(min_length=1)]] = Field(
        default_factory=dict
    )
    cache_ttl: Literal["5m", "1h"] = "5m"
    max_output_tokens: int = Field(default=4096, gt=0)

    @model_validator(mode="after")
    def _tiers_name_configured_providers(self) -> Self:
        configured = ", ".join(self.providers) or "none"
        for tier, chain in self.tiers.items():
            for index, entry in enumerate(chain):
                provider = ModelRef.parse(entry).provider
                if provider not in self.providers:
                    raise key_error(
                        ("tiers", tier, index),
                        f'unknown provider "{provider}" (configured: {configured})',
                    )
        return self

    def chain(self, tier: str) -> list[ModelRef]:
        """The tier's fallback chain, first choice first.

        Raises:
            KeyError: No such tier.
        """
        return [ModelRef.parse(entry) for entry in self.tiers[tier]]
