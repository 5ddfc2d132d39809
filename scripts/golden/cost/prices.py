"""The dated price table: autoscaling/pricing/prices-REGION.yaml, one file per region the
environment settings name, checked against schemas/prices.schema.json.

Each entry carries its unit, the AWS page that publishes it, the date it was taken and
how it was checked; the table has a date of its own that every estimate states."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import autoscaling
from autoscaling import schema
from golden.core.errors import ConfigError

SCHEMA = "prices.schema.json"
# Package data beside the environment settings (pyproject: autoscaling/pricing/*.yaml).
PRICING_DIR = Path(autoscaling.__file__).resolve().parent / "pricing"
# Older than this, an estimate says the table should be refreshed.
STALE_DAYS = 365
HEADER = """\
# yaml-language-server: $schema=../../schemas/prices.schema.json
# AWS list prices for {region}, read by `golden cost`; Linux, shared tenancy, on-demand
# unless the key says otherwise. Rebuild with `golden cost --refresh-prices` (AWS Price
# List API): entries the API answers are replaced, the others are kept as they are.
# Every entry: `source` (the AWS page or API call), `taken` (its date), `note` (how it
# was checked, or that it is an estimate).
"""


@dataclass(frozen=True)
class Prices:
    """One region's table. ``raw`` is the validated file (for --refresh-prices)."""

    region: str
    date: dt.date
    hours_per_month: float
    path: Path
    raw: dict

    def usd(self, name: str) -> float:
        """Price of NAME (e.g. "ec2/t3.large") in USD per its unit. Raises ConfigError
        naming the table and the entry when the table has no such price."""
        entry = self.raw["prices"].get(name)
        if entry is None:
            raise ConfigError(
                f"{self.path}: prices.{name}: missing (add it with its source and date, or "
                f"run `golden cost --refresh-prices` once the Price List API knows it)"
            )
        return float(entry["usd"])

    def free(self, name: str) -> float:
        """The always-free monthly quantity of NAME (0 when the table lists none)."""
        entry = self.raw["free_tier"].get(name)
        return float(entry["quantity"]) if entry else 0.0

    def discount(self, name: str) -> float | None:
        """The fraction saved off on-demand by discount NAME (e.g. "spot/ec2/t3"), or
        None when the table has no such discount."""
        entry = self.raw["discounts"].get(name)
        return float(entry["fraction"]) if entry else None

    def age_days(self, today: dt.date) -> int:
        return (today - self.date).days

    def entry(self, name: str) -> dict:
        return self.raw["prices"].get(name) or {}

    def oldest_taken(self) -> dt.date:
        """The date of the oldest price in the table (a refresh keeps what the Price List
        API does not answer, with its own date)."""
        return min((dt.date.fromisoformat(e["taken"]) for e in self.raw["prices"].values()),
                   default=self.date)


def table_path(region: str, folder: Path = PRICING_DIR) -> Path:
    return folder / f"prices-{region}.yaml"


def from_data(data: Any, path: Path) -> Prices:
    """Prices from the parsed table DATA read from PATH; ConfigError naming the key when
    the table breaks its schema."""
    raw = schema.validate(data, schema.load_schema(SCHEMA), str(path))
    try:
        date = dt.date.fromisoformat(raw["date"])
    except ValueError:
        raise ConfigError(f"{path}: date: expected a real date, got {raw['date']!r}") from None
    return Prices(raw["region"], date, float(raw["hours_per_month"]), path, raw)


def load(region: str, folder: Path = PRICING_DIR) -> Prices:
    """The table for REGION. ConfigError when there is none (naming the file to write or
    refresh) or it is not a valid table."""
    path = table_path(region, folder)
    if not path.is_file():
        raise ConfigError(
            f"{path}: no price table for region {region} (copy one and refresh it: "
            f"golden cost --refresh-prices --region {region})"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    table = from_data(data, path)
    if table.region != region:
        raise ConfigError(f"{path}: region: expected {region}, got {table.region}")
    return table


def dump(raw: dict) -> str:
    """The table RAW as the YAML file golden writes (header comment, keys in order)."""
    body = yaml.safe_dump(raw, sort_keys=False, default_flow_style=False, width=100)
    return HEADER.format(region=raw["region"]) + body


def freshness(table: Prices, today: dt.date) -> str:
    """One line saying which prices an estimate used and how old they are."""
    age = table.age_days(today)
    oldest = table.oldest_taken()
    text = f"prices of {table.date.isoformat()} ({age} days old"
    if oldest < table.date:
        text += f"; oldest entry {oldest.isoformat()}"
    text += f", {table.path.name})"
    if (today - min(oldest, table.date)).days > STALE_DAYS:
        text += ": older than a year, refresh with golden cost --refresh-prices"
    return text
