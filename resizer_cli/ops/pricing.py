"""Lambda's list prices, dated, and what one invocation costs at them.

Lambda bills requests plus GB-seconds: the billed duration (rounded up to the next ms, init
included since August 2025) times the memory size in GB (1 GB = 1,024 MB). Only the first
tier is here (x86_64: up to 6 billion GB-seconds a month; arm64: 7.5 billion), and no free tier,
so a cost is an upper bound for small accounts. https://aws.amazon.com/lambda/pricing/
"""

from __future__ import annotations

from dataclasses import dataclass

from resizer_cli.settings.model import Settings

PRICES_AS_OF = "2026-12-01"
SOURCE = f"AWS Lambda list price, first tier, as of {PRICES_AS_OF}"

REQUEST_USD = 0.20 / 1_000_000
# USD per GB-second by architecture; regions not listed pay the base price.
GB_SECOND_USD: dict[str, dict[str, float]] = {
    "base": {"x86_64": 0.0000166667, "arm64": 0.0000133334},
    "af-south-1": {"x86_64": 0.0000221, "arm64": 0.00001768},
    "ap-east-1": {"x86_64": 0.00002292, "arm64": 0.0000183},
    "eu-south-1": {"x86_64": 0.0000195172, "arm64": 0.0000156138},
    "me-south-1": {"x86_64": 0.0000206667, "arm64": 0.0000165334},
    "me-central-1": {"x86_64": 0.0000206667, "arm64": 0.0000165334},
}


@dataclass(frozen=True)
class Price:
    request_usd: float
    gb_second_usd: float
    source: str

    def of(self, billed_ms: float, memory_mb: int, requests: int = 1) -> float:
        """The cost of `requests` invocations that together billed `billed_ms`."""
        return requests * self.request_usd + gb_seconds(billed_ms, memory_mb) * self.gb_second_usd


def gb_seconds(billed_ms: float, memory_mb: int) -> float:
    return billed_ms / 1000 * memory_mb / 1024


def list_price(
    region: str,
    architecture: str,
    *,
    request_usd: float | None = None,
    gb_second_usd: float | None = None,
) -> Price:
    """The price for a function's region and architecture; a given value overrides the table."""
    row = GB_SECOND_USD.get(region, GB_SECOND_USD["base"])
    arch = "arm64" if architecture == "arm64" else "x86_64"
    overridden = request_usd is not None or gb_second_usd is not None
    return Price(
        request_usd=REQUEST_USD if request_usd is None else request_usd,
        gb_second_usd=row[arch] if gb_second_usd is None else gb_second_usd,
        source="set in the settings" if overridden else SOURCE,
    )


def price_for(settings: Settings, architecture: str | None = None) -> Price:
    """The stack's price: the table's for its region and architecture (the deployed
    function's, when given), or the settings' own (`price_request_usd`,
    `price_gb_second_usd` in resizer.toml or RESIZER_PRICE_*)."""
    return list_price(
        settings.region,
        architecture or settings.architecture,
        request_usd=settings.price_request_usd,
        gb_second_usd=settings.price_gb_second_usd,
    )
