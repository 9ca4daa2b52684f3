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


class Price(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(default=0.0, ge=0)
    output: float = Field(default=0.0, ge=0)
    cache_read: float = Field(default=0.0, ge=0)
    cache_write: float = Field(default=0.0, ge=0)


class ModelSettings(BaseModel):
    """Per-model settings (``models.models."provider:model"``).

    Attributes:
        context_window: Prompt tokens the model accepts; compaction works against it.
        max_output_tokens: Overrides ``models.max_output_tokens`` for this model.
        price: Price table for cost accounting.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    context_window: int = Field(default=200_000, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    price: Price = Field(default_factory=Price)


class RetrySettings(BaseModel):
    """Retries of one model before the chain moves on (exponential backoff, full jitter).

    Attributes:
        attempts: Tries per model for retryable errors (429, 5xx, 529, timeouts), first included.
        base_delay: Backoff base; try ``n`` waits a random time up to ``base_delay * 2**n``.
        max_delay: Upper bound of one backoff wait.
        retry_after_cap: A provider's ``retry-after`` is honoured up to this long; beyond it the
            chain moves on.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(default=3, ge=1)
    base_delay: Duration = timedelta(milliseconds=500)
    max_delay: Duration = timedelta(seconds=8)
    retry_after_cap: Duration = timedelta(seconds=20)


class CircuitSettings(BaseModel):
    """A per-model circuit breaker.

    Attributes:
        failures: Consecutive failures that open the circuit.
        cooldown: How long an open circuit skips its model before one probe request.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    failures: int = Field(default=5, ge=1)
    cooldown: Duration = timedelta(seconds=60)


class ModelsSettings(BaseModel):
    """The ``models:`` section.

    Attributes:
        providers: Provider instances by the name used in tier entries.
        tiers: Tier name → ordered fallback chain of ``"provider:model"``; each chain is non-empty
            and names configured providers only.
        cache_ttl: Anthropic prompt-cache TTL.
        max_output_tokens: Cap on tokens generated per model call.
        models: Per-model context window, output cap and prices, keyed ``"provider:model"``.
        retry: Retries of one model before falling back.
        circuit: The per-model circuit breaker.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    tiers: dict[str, Annotated[list[ModelRefText], Field(min_length=1)]] = Field(
        default_factory=dict
    )
    cache_ttl: Literal["5m", "1h"] = "5m"
    max_output_tokens: int = Field(default=4096, gt=0)
    models: dict[ModelRefText, ModelSettings] = Field(default_factory=dict)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    circuit: CircuitSettings = Field(default_factory=CircuitSettings)

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
        for entry in self.models:
            provider = ModelRef.parse(entry).provider
            if provider not in self.providers:
                raise key_error(
                    ("models", entry), f'unknown provider "{provider}" (configured: {configured})'
                )
        return self

    def chain(self, tier: str) -> list[ModelRef]:
        """The tier's fallback chain, first choice first.

        Raises:
            KeyError: No such tier.
        """
        return [ModelRef.parse(entry) for entry in self.tiers[tier]]

    def model(self, ref: ModelRef) -> ModelSettings:
        """Settings of one model (defaults when it has no entry)."""
        return self.models.get(str(ref)) or ModelSettings()
