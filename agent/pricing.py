"""What a turn cost, and what the prompt cache saved, from normalised usage and a price table."""

from __future__ import annotations

from dataclasses import dataclass

from agent.messages import Usage
from config import Price

PER_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Cost:
    """US dollars: the amount billed, and what the cache reads would have cost more uncached."""

    usd: float
    cache_savings_usd: float


def cost(usage: Usage, price: Price) -> Cost:
    """Price ``usage``: uncached input, cache writes, cache reads and output each at their rate."""
    uncached = max(0, usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens)
    billed = (
        uncached * price.input
        + usage.cache_write_tokens * price.cache_write
        + usage.cache_read_tokens * price.cache_read
        + usage.output_tokens * price.output
    ) / PER_MILLION
    saved = usage.cache_read_tokens * (price.input - price.cache_read) / PER_MILLION
    return Cost(billed, saved)
