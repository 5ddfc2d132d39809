"""The load balancer, NAT gateways, public IPv4 addresses, interface endpoints and data
transfer out (pure).

ALB capacity units (Elastic Load Balancing pricing): an LCU-hour is the highest of four
dimensions, each measured in the hour: 25 new connections a second, 3,000 active
connections a minute, 1 GB processed (EC2 targets), 1,000 rule evaluations a second
(the first 10 rules of a request are free: golden's listener has fewer, so rule
evaluations never lead)."""

from __future__ import annotations

from dataclasses import dataclass

from golden.cost.foundation import Foundation
from golden.cost.model import Line, rate
from golden.cost.prices import Prices
from golden.cost.usage import Usage

LCU_NEW_CONNECTIONS = 25  # a second
LCU_ACTIVE_CONNECTIONS = 3000  # a minute
LCU_PROCESSED_GB = 1.0  # an hour
KB_PER_GB = 1_000_000


def seconds_per_month(prices: Prices) -> float:
    return prices.hours_per_month * 3600


def transfer_out_gb(prices: Prices, usage: Usage) -> float:
    """Responses sent to the internet in a month (GB)."""
    return usage.requests_per_second * seconds_per_month(prices) * usage.response_kb / KB_PER_GB


def lcus(usage: Usage) -> tuple[float, str]:
    """LCUs the ALB consumes each hour (the highest dimension) and which one leads."""
    processed = usage.requests_per_second * 3600 * (usage.request_kb + usage.response_kb)
    dims = {
        "new connections": usage.new_connections_per_second / LCU_NEW_CONNECTIONS,
        "active connections": usage.concurrent_users / LCU_ACTIVE_CONNECTIONS,
        "processed bytes": processed / KB_PER_GB / LCU_PROCESSED_GB,
    }
    lead = max(dims, key=lambda k: dims[k])
    return dims[lead], lead


def alb_lines(prices: Prices, usage: Usage) -> list[Line]:
    """One ALB in front of the app role: its hours and its capacity units."""
    hours = prices.hours_per_month
    units, lead = lcus(usage)
    return [
        Line("ELB", "ALB hours", hours * prices.usd("elb/alb"),
             f"{hours:g} h x {rate(prices.usd('elb/alb'))}"),
        Line("ELB", "ALB capacity units", units * hours * prices.usd("elb/alb-lcu"),
             f"{units:.3f} LCU ({lead}) x {hours:g} h x {rate(prices.usd('elb/alb-lcu'))}"),
    ]  # fmt: skip


def address_lines(prices: Prices, foundation: Foundation, has_alb: bool) -> list[Line]:
    """Public IPv4 addresses: the ALB's, one per Availability Zone it spans, and each NAT
    gateway's Elastic IP. Instances sit in private subnets and have none."""
    alb = foundation.availability_zones if has_alb else 0
    count = alb + foundation.nat_gateways
    if not count:
        return []
    hours = prices.hours_per_month
    return [Line(
        "VPC", f"public IPv4 addresses ({alb} ALB + {foundation.nat_gateways} NAT)",
        count * hours * prices.usd("vpc/public-ipv4"),
        f"{count} x {hours:g} h x {rate(prices.usd('vpc/public-ipv4'))}",
        note="the ALB may add addresses when it scales out",
    )]  # fmt: skip


@dataclass(frozen=True)
class AwsTraffic:
    """GB a month that instances send to AWS services or the internet from private
    subnets, by what they are."""

    logs_gb: float
    s3_gb: float
    other_gb: float


def nat_lines(prices: Prices, foundation: Foundation, traffic: AwsTraffic) -> list[Line]:
    """The NAT gateways' hours and the GB they process: logs unless a Logs endpoint
    carries them, S3 unless the S3 gateway endpoint does, and the rest."""
    if not foundation.nat_gateways:
        return []
    hours = prices.hours_per_month
    parts = {"other": traffic.other_gb}
    if "logs" not in foundation.interface_endpoints:
        parts["logs"] = traffic.logs_gb
    if not foundation.s3_gateway_endpoint:
        parts["S3"] = traffic.s3_gb
    gb = sum(parts.values())
    shown = " + ".join(f"{v:.1f} {k}" for k, v in parts.items())
    return [
        Line("VPC", f"NAT gateway hours ({foundation.nat_gateways})",
             foundation.nat_gateways * hours * prices.usd("vpc/nat-gateway"),
             f"{foundation.nat_gateways} x {hours:g} h x {rate(prices.usd('vpc/nat-gateway'))}"),
        Line("VPC", "NAT gateway data", gb * prices.usd("vpc/nat-data"),
             f"({shown}) GB x {rate(prices.usd('vpc/nat-data'))}",
             note="logs at their ingested size: the agent compresses, so an upper bound"),
    ]  # fmt: skip


def endpoint_lines(prices: Prices, foundation: Foundation, traffic: AwsTraffic) -> list[Line]:
    """Interface endpoints: one per service per Availability Zone, and the GB they carry
    (the logs, when a Logs endpoint exists)."""
    names = foundation.interface_endpoints
    if not names:
        return []
    hours = prices.hours_per_month
    count = len(names) * foundation.availability_zones
    gb = traffic.logs_gb if "logs" in names else 0.0
    return [
        Line("VPC", f"interface endpoints ({', '.join(names)})",
             count * hours * prices.usd("vpc/interface-endpoint"),
             f"{len(names)} x {foundation.availability_zones} AZ x {hours:g} h x "
             f"{rate(prices.usd('vpc/interface-endpoint'))}"),
        Line("VPC", "interface endpoint data", gb * prices.usd("vpc/interface-endpoint-data"),
             f"{gb:.1f} GB x {rate(prices.usd('vpc/interface-endpoint-data'))}"),
    ]  # fmt: skip


def transfer_lines(prices: Prices, usage: Usage) -> list[Line]:
    """Responses to the internet (the ALB's data out is billed as EC2 data transfer)."""
    gb = transfer_out_gb(prices, usage)
    free = prices.free("transfer/out-internet") if usage.free_tier else 0.0
    billed = max(0.0, gb - free)
    how = (f"{usage.requests_per_second:g} req/s x {seconds_per_month(prices):,.0f} s x "
           f"{usage.response_kb:g} KB = {gb:.1f} GB")  # fmt: skip
    if free:
        how += f" - {free:g} GB free"
    price = prices.usd("transfer/out-internet")
    return [Line("Data transfer", "out to the internet", billed * price, f"{how} x {rate(price)}")]

