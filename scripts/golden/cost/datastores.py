"""RDS for PostgreSQL, ElastiCache and the uploads bucket (pure).

RDS automated backups are free up to 100% of the provisioned storage (RDS pricing); they
hold the database once plus each day's changes for the retention period. The uploads
bucket is priced at its steady state: objects stay in S3 Standard for the lifecycle's
days, then sit in Glacier Flexible Retrieval; each upload is one PUT, a number of GETs,
and one lifecycle transition."""

from __future__ import annotations

from golden.core.errors import ConfigError
from golden.cost.foundation import Foundation
from golden.cost.model import Line, rate
from golden.cost.prices import Prices
from golden.cost.usage import Usage


def _reserved(prices: Prices, pricing: str, node: str, service: str) -> tuple[float, str]:
    """The fraction --pricing savings-1y takes off a database or cache NODE ("db.t3.medium":
    family db.t3) and the text for it; (0, "") otherwise."""
    if pricing != "savings-1y":
        return 0.0, ""
    key = f"reserved-1y/{service}/{node.rsplit('.', 1)[0]}"
    fraction = prices.discount(key)
    if fraction is None:
        raise ConfigError(f"{prices.path}: discounts.{key}: missing (needed for --pricing "
                          f"{pricing})")  # fmt: skip
    return fraction, f" x (1 - {fraction:g} reserved)"


def rds_lines(prices: Prices, pricing: str, foundation: Foundation, usage: Usage) -> list[Line]:
    """The database instance (twice for Multi-AZ), its gp3 storage, and backups beyond
    the free 100% of the provisioned storage."""
    hours = prices.hours_per_month
    node = foundation.db_instance_class
    copies = 2 if foundation.db_multi_az else 1
    per_hour = prices.usd(f"rds/postgres/{node}")
    off, off_text = _reserved(prices, pricing, node, "rds")
    az = " x 2 (Multi-AZ)" if copies == 2 else ""
    storage = foundation.db_allocated_storage_gb
    days = foundation.db_backup_retention_days
    backup = usage.db_used_gb + usage.db_daily_change_gb * days if days else 0.0
    billed = max(0.0, backup - storage)
    return [
        Line("RDS", f"PostgreSQL {node}", copies * hours * per_hour * (1 - off),
             f"{hours:g} h x {rate(per_hour)}{off_text}{az}"),
        Line("RDS", f"storage ({storage} GB gp3)",
             copies * storage * prices.usd("rds/gp3-storage"),
             f"{storage} GB x {rate(prices.usd('rds/gp3-storage'))}{az}"),
        Line("RDS", f"backups ({days} days)", billed * prices.usd("rds/backup-storage"),
             f"({usage.db_used_gb:g} + {usage.db_daily_change_gb:g} x {days}) GB - {storage} GB "
             f"free = {billed:g} GB x {rate(prices.usd('rds/backup-storage'))}"),
    ]  # fmt: skip


def cache_lines(prices: Prices, pricing: str, foundation: Foundation) -> list[Line]:
    hours = prices.hours_per_month
    node = foundation.cache_node_type
    per_hour = prices.usd(f"elasticache/{node}")
    off, off_text = _reserved(prices, pricing, node, "elasticache")
    return [Line(
        "ElastiCache", f"{foundation.cache_nodes} x {node}",
        foundation.cache_nodes * hours * per_hour * (1 - off),
        f"{foundation.cache_nodes} x {hours:g} h x {rate(per_hour)}{off_text}",
    )]  # fmt: skip


def s3_split(prices: Prices, foundation: Foundation, usage: Usage) -> tuple[float, float]:
    """GB in S3 Standard and in Glacier Flexible Retrieval at steady state: the last
    lifecycle-days of uploads stay in Standard, the rest of what is stored is in Glacier."""
    if not foundation.uploads_glacier_after_days:
        return usage.stored_gb, 0.0
    months = foundation.uploads_glacier_after_days / (prices.hours_per_month / 24)
    standard = min(usage.stored_gb, usage.uploads_gb_per_month * months)
    return standard, usage.stored_gb - standard


def s3_lines(prices: Prices, foundation: Foundation, usage: Usage) -> list[Line]:
    standard, glacier = s3_split(prices, foundation, usage)
    objects = usage.uploads_gb_per_month * 1000 / usage.upload_object_mb
    gets = objects * usage.s3_gets_per_object
    transitions = objects if glacier > 0 else 0.0
    put, get = prices.usd("s3/put-requests"), prices.usd("s3/get-requests")
    lines = [
        Line("S3", "uploads in S3 Standard", standard * prices.usd("s3/standard-storage"),
             f"{standard:.1f} GB x {rate(prices.usd('s3/standard-storage'))}"),
        Line("S3", "requests", objects / 1000 * put + gets / 1000 * get,
             f"{objects:,.0f} PUT / 1000 x {rate(put)} + {gets:,.0f} GET / 1000 x {rate(get)}"),
    ]  # fmt: skip
    if glacier > 0:
        lines += [
            Line("S3", f"uploads in Glacier (after {foundation.uploads_glacier_after_days} days)",
                 glacier * prices.usd("s3/glacier-flexible-storage"),
                 f"{glacier:.1f} GB x {rate(prices.usd('s3/glacier-flexible-storage'))}",
                 note="Glacier adds 40 KB of metadata per object, not counted"),
            Line("S3", "lifecycle transitions",
                 transitions / 1000 * prices.usd("s3/glacier-transitions"),
                 f"{transitions:,.0f} / 1000 x {rate(prices.usd('s3/glacier-transitions'))}"),
        ]  # fmt: skip
    return lines


def s3_traffic_gb(usage: Usage) -> float:
    """GB a month instances move to and from the bucket (uploads and their reads)."""
    return usage.uploads_gb_per_month * (1 + usage.s3_gets_per_object)
