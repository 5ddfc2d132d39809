"""`golden cost --refresh-prices`: the price table rebuilt from the AWS Price List API.

`query_for()` says, per table entry, which GetProducts query finds its product (service code,
TERM_MATCH filters on documented product attributes, and the usage type the product must
have: AWS prefixes it with a region code outside us-east-1, e.g. USE2-BoxUsage:t3.large).
`price()` reads the on-demand price out of the products (pure); `fetch()` is the thin
adapter over boto3's `pricing` client (endpoint us-east-1); `refresh()` replaces what the
API answers and keeps the rest (discounts, free tiers, entries the API does not know),
reporting each entry. Nothing is written unless every query went through.

The queries follow the attribute names of AWS's price list files; they could not be run
where golden was written (no AWS access), so review the first refresh's report."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from golden.core import awsclient
from golden.core.errors import OperationFailed

# The Price List API answers in us-east-1 (and a few other regions) for every region.
ENDPOINT_REGION = "us-east-1"
MAX_PRODUCTS = 500  # per query: a page is at most 100
PAGE_SIZE = 100


@dataclass(frozen=True)
class Query:
    service: str
    filters: dict[str, str]
    usagetype: str
    # Multiplies the API's price per unit into the table's unit (1000: per 1,000 requests).
    scale: float = 1.0
    # Tiered prices: the tier whose range holds this quantity (in the API's unit).
    at_quantity: float = 0.0
    # API units this entry may come in, and the factor into the table's unit.
    units: dict[str, float] = field(default_factory=dict)


def _ec2(name: str, region: str) -> Query:
    kind = name.split("/", 1)[1]
    return Query("AmazonEC2", {"instanceType": kind, "regionCode": region,
                               "operatingSystem": "Linux", "tenancy": "Shared",
                               "preInstalledSw": "NA", "capacitystatus": "Used"},
                 f"BoxUsage:{kind}")  # fmt: skip


def _rds(name: str, region: str) -> Query:
    kind = name.rsplit("/", 1)[1]
    return Query("AmazonRDS", {"instanceType": kind, "regionCode": region,
                               "databaseEngine": "PostgreSQL", "deploymentOption": "Single-AZ"},
                 f"InstanceUsage:{kind}")  # fmt: skip


def _cache(name: str, region: str) -> Query:
    kind = name.split("/", 1)[1]
    return Query("AmazonElastiCache", {"instanceType": kind, "regionCode": region,
                                       "cacheEngine": "Redis"}, f"NodeUsage:{kind}")  # fmt: skip


def _fixed(region: str) -> dict[str, Query]:
    r = {"regionCode": region}
    return {
        "ebs/gp3-storage": Query("AmazonEC2", {**r, "volumeApiName": "gp3"}, "EBS:VolumeUsage.gp3"),
        "ebs/gp3-iops": Query("AmazonEC2", {**r, "volumeApiName": "gp3"}, "EBS:VolumeP-IOPS.gp3"),
        "ebs/gp3-throughput": Query("AmazonEC2", {**r, "volumeApiName": "gp3"},
                                    "EBS:VolumeP-Throughput.gp3",
                                    units={"GiBps-mo": 1 / 1024, "MiBps-Mo": 1.0}),
        "elb/alb": Query("AWSELB", {**r, "productFamily": "Load Balancer-Application"},
                         "LoadBalancerUsage"),
        "elb/alb-lcu": Query("AWSELB", {**r, "productFamily": "Load Balancer-Application"},
                             "LCUUsage"),
        "vpc/nat-gateway": Query("AmazonEC2", {**r, "productFamily": "NAT Gateway"},
                                 "NatGateway-Hours"),
        "vpc/nat-data": Query("AmazonEC2", {**r, "productFamily": "NAT Gateway"},
                              "NatGateway-Bytes"),
        "vpc/public-ipv4": Query("AmazonVPC", r, "PublicIPv4:InUseAddress"),
        "vpc/interface-endpoint": Query("AmazonVPC", {**r, "productFamily": "VpcEndpoint"},
                                        "VpcEndpoint-Hours"),
        "vpc/interface-endpoint-data": Query("AmazonVPC", {**r, "productFamily": "VpcEndpoint"},
                                             "VpcEndpoint-Bytes", at_quantity=1),
        "rds/gp3-storage": Query("AmazonRDS", {**r, "databaseEngine": "PostgreSQL",
                                               "deploymentOption": "Single-AZ",
                                               "volumeType": "General Purpose-GP3"},
                                 "RDS:GP3-Storage"),
        "rds/backup-storage": Query("AmazonRDS", {**r, "productFamily": "Storage Snapshot"},
                                    "RDS:ChargedBackupUsage"),
        "s3/standard-storage": Query("AmazonS3", {**r, "storageClass": "General Purpose"},
                                     "TimedStorage-ByteHrs", at_quantity=1),
        "s3/glacier-flexible-storage": Query("AmazonS3", {**r, "volumeType": "Amazon Glacier"},
                                             "TimedStorage-GlacierByteHrs"),
        "s3/put-requests": Query("AmazonS3", {**r, "group": "S3-API-Tier1"}, "Requests-Tier1",
                                 scale=1000),
        "s3/get-requests": Query("AmazonS3", {**r, "group": "S3-API-Tier2"}, "Requests-Tier2",
                                 scale=1000),
        "s3/glacier-transitions": Query("AmazonS3", r, "Requests-GLACIER-Tier1", scale=1000),
        "cloudwatch/custom-metric": Query("AmazonCloudWatch", r, "CW:MetricMonitorUsage",
                                          at_quantity=1),
        "cloudwatch/alarm": Query("AmazonCloudWatch", r, "CW:AlarmMonitorUsage"),
        "cloudwatch/put-metric-data": Query("AmazonCloudWatch", r, "CW:Requests", scale=1000,
                                            at_quantity=2_000_000),
        "cloudwatch/logs-ingestion": Query("AmazonCloudWatch", r, "DataProcessing-Bytes"),
        "cloudwatch/logs-storage": Query("AmazonCloudWatch", r, "TimedStorage-ByteHrs"),
        "transfer/out-internet": Query("AWSDataTransfer", {"fromRegionCode": region,
                                                           "transferType": "AWS Outbound"},
                                       "DataTransfer-Out-Bytes", at_quantity=1000),
    }  # fmt: skip


def query_for(name: str, region: str) -> Query | None:
    """The GetProducts query for table entry NAME in REGION; None when the Price List API
    has no product for it."""
    if name.startswith("ec2/"):
        return _ec2(name, region)
    if name.startswith("rds/postgres/"):
        return _rds(name, region)
    if name.startswith("elasticache/"):
        return _cache(name, region)
    return _fixed(region).get(name)


def filters(query: Query) -> list[dict[str, str]]:
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in query.filters.items()]


def _usagetype_matches(usagetype: str, wanted: str) -> bool:
    return usagetype == wanted or usagetype.endswith(f"-{wanted}")


def _in_tier(dim: dict, quantity: float) -> bool:
    begin = float(dim.get("beginRange", 0) or 0)
    end = dim.get("endRange", "Inf")
    return begin <= quantity and (end in ("Inf", "", None) or quantity < float(end))


def prices_in(products: list[dict], query: Query) -> set[float]:
    """Every distinct on-demand price (in the table's unit) among PRODUCTS that have
    QUERY's usage type, from the tier holding QUERY's quantity. Raises ValueError for a
    unit the query does not expect."""
    found = set()
    for product in products:
        usagetype = ((product.get("product") or {}).get("attributes") or {}).get("usagetype", "")
        if not _usagetype_matches(usagetype, query.usagetype):
            continue
        for term in ((product.get("terms") or {}).get("OnDemand") or {}).values():
            for dim in (term.get("priceDimensions") or {}).values():
                if not _in_tier(dim, query.at_quantity):
                    continue
                factor = 1.0
                if query.units:
                    if dim.get("unit") not in query.units:
                        raise ValueError(f"unexpected unit {dim.get('unit')!r}")
                    factor = query.units[dim["unit"]]
                usd = float(dim["pricePerUnit"]["USD"]) * factor * query.scale
                found.add(round(usd, 10))
    return found


def price(products: list[dict], query: Query) -> tuple[float | None, str]:
    """QUERY's on-demand price among PRODUCTS, or None and why not (none found, or several
    prices: the filters are not narrow enough to choose)."""
    try:
        found = prices_in(products, query)
    except ValueError as exc:
        return None, str(exc)
    if not found:
        return None, f"no product with usage type {query.usagetype} in the answer"
    if len(found) > 1:
        return None, f"several prices for {query.usagetype}: {sorted(found)}"
    return found.pop(), "ok"


def client():
    """The Price List API's boto3 client (AWS's endpoint unless AWS_ENDPOINT_URL* says)."""
    return awsclient.client("pricing", region=ENDPOINT_REGION)


def fetch(pricing_client, query: Query) -> list[dict]:
    """The products QUERY finds (parsed from the PriceList JSON strings), at most
    MAX_PRODUCTS. botocore errors propagate to the caller."""
    pages = pricing_client.get_paginator("get_products").paginate(
        ServiceCode=query.service, Filters=filters(query), FormatVersion="aws_v1",
        PaginationConfig={"MaxItems": MAX_PRODUCTS, "PageSize": PAGE_SIZE},
    )  # fmt: skip
    return [json.loads(item) for page in pages for item in page.get("PriceList", [])]


def refresh(
    raw: dict, fetcher: Callable[[Query], list[dict]], today: dt.date
) -> tuple[dict, list[dict[str, Any]]]:
    """The table RAW with every price the Price List API answers replaced (taken TODAY),
    and one report row per entry (name, before, after, status). FETCHER runs a query; any
    exception it raises aborts the refresh (OperationFailed), so nothing half-refreshed is
    returned."""
    new = json.loads(json.dumps(raw))
    report = []
    for name, entry in new["prices"].items():
        query = query_for(name, new["region"])
        if query is None:
            report.append({"name": name, "before": entry["usd"], "after": entry["usd"],
                           "status": "kept: no Price List product"})  # fmt: skip
            continue
        try:
            products = fetcher(query)
        except Exception as exc:
            raise OperationFailed(f"Price List API GetProducts for {name} failed: {exc}; the "
                                  f"table is unchanged") from exc  # fmt: skip
        value, why = price(products, query)
        if value is None:
            report.append({"name": name, "before": entry["usd"], "after": entry["usd"],
                           "status": f"kept: {why}"})  # fmt: skip
            continue
        report.append({"name": name, "before": entry["usd"], "after": value,
                       "status": "changed" if value != entry["usd"] else "same"})  # fmt: skip
        entry.update(usd=value, taken=today.isoformat(),
                     note=f"AWS Price List API (GetProducts {query.service}, usage type "
                          f"{query.usagetype})")  # fmt: skip
    kept = "kept: not in the Price List API's on-demand terms"
    for section in ("free_tier", "discounts"):
        for name in new.get(section) or {}:
            report.append({"name": f"{section}/{name}", "before": None, "after": None,
                           "status": kept})  # fmt: skip
    new["date"] = today.isoformat()
    return new, report
