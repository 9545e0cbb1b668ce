"""Token and cost accounting with a configurable price table.

Prices are USD per million tokens, per model, read from a JSON or TOML file:

    {"gpt-5": {"input": 1.25, "output": 10.0, "cached_input": 0.125}}

A model matches its exact name first, then the longest table key it starts with (so `gpt-5`
prices `gpt-5-2026-08-01`). Models with no price are counted as `unpriced`, never guessed.
Calls answered through a batch API (`deploysim replay --batch`) cost `BATCH_PRICE_FACTOR` of
the table's price, as OpenAI's Batch API and Anthropic's Message Batches charge.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from replayer.errors import ReplayConfigError

BATCH_PRICE_FACTOR = 0.5
"""What a batch call costs relative to the same call online (both providers: half)."""


@dataclass(frozen=True)
class Price:
    input: float
    """USD per million input tokens."""
    output: float
    """USD per million output tokens."""
    cached_input: float | None = None
    """USD per million cached input tokens (defaults to `input`)."""


class PriceTable:
    """model -> Price."""

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self.prices = dict(prices or {})

    @classmethod
    def load(cls, path: str) -> PriceTable:
        """Read a price file (JSON or TOML); raises ReplayConfigError naming the problem."""
        try:
            text = Path(path).read_text()
            raw: Any = tomllib.loads(text) if path.endswith(".toml") else json.loads(text)
            return cls({name: Price(**spec) for name, spec in raw.items()})
        except FileNotFoundError as exc:
            raise ReplayConfigError(f"The price file {path} does not exist; give a JSON or "
                                    "TOML file of {model: {input, output}} USD per Mtok.") from exc
        except (ValueError, TypeError, AttributeError, tomllib.TOMLDecodeError) as exc:
            raise ReplayConfigError(f"The price file {path} is not a table of {{model: {{input, "
                                    f"output[, cached_input]}}}} ({exc}); fix it.") from exc

    def lookup(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        best = max((k for k in self.prices if model.startswith(k)), key=len, default=None)
        return self.prices[best] if best is not None else None

    def cost(self, model: str, usage: Mapping[str, int], *, batch: bool = False
             ) -> float | None:
        """USD for one call's usage, or None when the model has no price; `batch`: the call
        went through a batch API (BATCH_PRICE_FACTOR of the price)."""
        price = self.lookup(model)
        if price is None:
            return None
        cached = usage.get("cached_tokens", 0)
        fresh = max(0, usage.get("input_tokens", 0) - cached)
        cached_rate = price.input if price.cached_input is None else price.cached_input
        online = (fresh * price.input + cached * cached_rate
                  + usage.get("output_tokens", 0) * price.output) / 1e6
        return online * BATCH_PRICE_FACTOR if batch else online


@dataclass
class Accounting:
    """Running totals for one process (merged across Ray workers with `merge`)."""

    requests: int = 0
    retries: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_requests: int = 0
    cache_hits: int = 0
    batch_requests: int = 0
    """Of `requests`, those answered through a batch API (priced at BATCH_PRICE_FACTOR)."""
    by_model: dict[str, int] = field(default_factory=dict)

    def add(self, model: str, usage: Mapping[str, int], prices: PriceTable | None, *,
            batch: bool = False) -> None:
        self.requests += 1
        self.batch_requests += batch
        self.by_model[model] = self.by_model.get(model, 0) + 1
        self.input_tokens += usage.get("input_tokens", 0)
        self.output_tokens += usage.get("output_tokens", 0)
        self.cached_tokens += usage.get("cached_tokens", 0)
        cost = prices.cost(model, usage, batch=batch) if prices is not None else None
        if cost is None:
            self.unpriced_requests += 1
        else:
            self.cost_usd += cost

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def merge(self, other: Mapping[str, Any]) -> None:
        for key, value in other.items():
            if key == "by_model":
                for m, n in value.items():
                    self.by_model[m] = self.by_model.get(m, 0) + n
            elif key != "tokens":
                setattr(self, key, getattr(self, key) + value)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cost_usd"] = round(self.cost_usd, 6)
        return out
