"""`golden cost --refresh-prices`: reading the AWS Price List API's GetProducts answers,
the boto3 adapter (stubbed: no call leaves the process), and a refresh that writes a
table only when every query answered.

The answers below are not captures (golden is written without AWS access): they are
GetProducts responses in the documented aws_v1 shape (the Price List API reference and
the AWS CLI's `pricing get-products` example: PriceList is a list of JSON strings, each
{"product": {"productFamily", "attributes": {..., "usagetype"}, "sku"}, "serviceCode",
"terms": {"OnDemand": {SKU.TERM: {"priceDimensions": {SKU.TERM.RATE: {"unit",
"beginRange", "endRange", "pricePerUnit": {"USD": "0.1380000000"}}}}}}}), with the
attribute values AWS's offer files use for these products.
"""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from golden.core.errors import OperationFailed
from golden.cost import pricelist, prices, run

TODAY = dt.date(2026, 12, 1)


def product(usagetype: str, dims: list[tuple[str, str, str, str]], **attributes) -> dict:
    """One PriceList entry; DIMS: (unit, beginRange, endRange, USD)."""
    sku = "SKU" + str(abs(hash((usagetype, tuple(dims)))) % 10**8)
    return {
        "product": {"productFamily": attributes.pop("productFamily", "Compute Instance"),
                    "attributes": {"usagetype": usagetype, **attributes}, "sku": sku},
        "serviceCode": "AmazonEC2",
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {
            "priceDimensions": {f"{sku}.JRTCKXETXF.{i}": {
                "unit": unit, "beginRange": begin, "endRange": end,
                "description": "", "appliesTo": [], "pricePerUnit": {"USD": usd}}
                for i, (unit, begin, end, usd) in enumerate(dims)},
            "sku": sku, "offerTermCode": "JRTCKXETXF", "termAttributes": {}}}},
        "version": "20261120000000", "publicationDate": "2026-11-20T00:00:00Z",
    }  # fmt: skip


T3_LARGE = product("BoxUsage:t3.large", [("Hrs", "0", "Inf", "0.0832000000")],
                   instanceType="t3.large", operatingSystem="Linux", regionCode="us-east-1")
T3_LARGE_WINDOWS = product("BoxUsage:t3.large", [("Hrs", "0", "Inf", "0.1108000000")],
                           instanceType="t3.large", operatingSystem="Windows")
T3_LARGE_OHIO = product("USE2-BoxUsage:t3.large", [("Hrs", "0", "Inf", "0.0832000000")],
                        instanceType="t3.large", regionCode="us-east-2")
DEDICATED = product("DedicatedUsage:t3.large", [("Hrs", "0", "Inf", "0.0915000000")])
TRANSFER = product("DataTransfer-Out-Bytes", [
    ("GB", "0", "10240", "0.0900000000"), ("GB", "10240", "51200", "0.0850000000"),
    ("GB", "51200", "153600", "0.0700000000"), ("GB", "153600", "Inf", "0.0500000000")])
THROUGHPUT = product("EBS:VolumeP-Throughput.gp3", [("GiBps-mo", "0", "Inf", "40.9600000000")])
S3_PUT = product("Requests-Tier1", [("Requests", "0", "Inf", "0.0000050000")])


def test_the_on_demand_price_is_read_from_the_product_with_the_usage_type():
    query = pricelist.query_for("ec2/t3.large", "us-east-1")
    assert pricelist.price([DEDICATED, T3_LARGE], query) == (0.0832, "ok")


def test_a_usage_type_with_another_regions_prefix_matches_in_that_region():
    query = pricelist.query_for("ec2/t3.large", "us-east-2")
    assert query.filters["regionCode"] == "us-east-2"
    assert pricelist.price([T3_LARGE_OHIO], query) == (0.0832, "ok")


def test_two_prices_for_one_entry_are_not_guessed_between():
    query = pricelist.query_for("ec2/t3.large", "us-east-1")
    value, why = pricelist.price([T3_LARGE, T3_LARGE_WINDOWS], query)
    assert value is None
    assert why == "several prices for BoxUsage:t3.large: [0.0832, 0.1108]"


def test_tiered_prices_come_from_the_tier_that_holds_the_quantity():
    """Data transfer out: 1,000 GB falls in the first tier (0-10,240 GB): $0.09."""
    query = pricelist.query_for("transfer/out-internet", "us-east-1")
    assert query.service == "AWSDataTransfer" and query.at_quantity == 1000
    assert pricelist.price([TRANSFER], query) == (0.09, "ok")


def test_units_are_converted_into_the_tables_units():
    """gp3 throughput listed per GiBps-month (40.96) is 40.96 / 1024 = $0.04 per MiB/s;
    S3 PUTs listed per request (0.000005) are $0.005 per 1,000."""
    assert pricelist.price([THROUGHPUT], pricelist.query_for("ebs/gp3-throughput", "us-east-1"))[
        0] == pytest.approx(0.04)  # fmt: skip
    assert pricelist.price([S3_PUT], pricelist.query_for("s3/put-requests", "us-east-1"))[
        0] == pytest.approx(0.005)  # fmt: skip


def test_an_unexpected_unit_is_not_converted_blindly():
    odd = product("EBS:VolumeP-Throughput.gp3", [("TBps-yr", "0", "Inf", "1")])
    value, why = pricelist.price([odd], pricelist.query_for("ebs/gp3-throughput", "us-east-1"))
    assert (value, why) == (None, "unexpected unit 'TBps-yr'")


def test_every_table_entry_the_api_knows_has_a_query_with_the_tables_region():
    table = prices.load("us-east-1")
    for name in table.raw["prices"]:
        query = pricelist.query_for(name, "eu-west-1")
        assert query is not None, name
        region = query.filters.get("regionCode") or query.filters.get("fromRegionCode")
        assert region == "eu-west-1", name


def _fetch_from(answers: dict):
    def fetch(query):
        return answers.get(query.usagetype, [])

    return fetch


def test_a_refresh_replaces_what_the_api_answers_and_keeps_the_rest():
    raw = prices.load("us-east-1").raw
    new, report = pricelist.refresh(raw, _fetch_from({"BoxUsage:t3.large": [
        product("BoxUsage:t3.large", [("Hrs", "0", "Inf", "0.0850000000")])]}), TODAY)  # fmt: skip
    rows = {r["name"]: r for r in report}
    assert rows["ec2/t3.large"] == {"name": "ec2/t3.large", "before": 0.0832, "after": 0.085,
                                    "status": "changed"}  # fmt: skip
    assert new["prices"]["ec2/t3.large"]["taken"] == "2026-12-01"
    assert new["prices"]["ec2/t3.large"]["source"] == raw["prices"]["ec2/t3.large"]["source"]
    assert "Price List API" in new["prices"]["ec2/t3.large"]["note"]
    assert rows["elb/alb"]["status"] == "kept: no product with usage type LoadBalancerUsage in " \
                                        "the answer"  # fmt: skip
    assert new["prices"]["elb/alb"] == raw["prices"]["elb/alb"]
    assert rows["discounts/spot/ec2/t3"]["status"] == (
        "kept: not in the Price List API's on-demand terms"
    )
    assert new["date"] == "2026-12-01"
    assert raw["prices"]["ec2/t3.large"]["usd"] == 0.0832, "the table read is left as it was"


def test_a_failed_query_leaves_the_table_file_unchanged(tmp_path):
    source = prices.table_path("us-east-1")
    (tmp_path / source.name).write_text(source.read_text())
    before = (tmp_path / source.name).read_bytes()
    calls = []

    def flaky(query):
        calls.append(query.usagetype)
        if len(calls) == 5:
            raise ConnectionError("no route to the Price List API")
        return []

    with pytest.raises(OperationFailed, match="no route to the Price List API; the table is "
                                              "unchanged"):  # fmt: skip
        run.refresh_prices(["us-east-1"], TODAY, fetcher=flaky, folder=tmp_path)
    assert (tmp_path / source.name).read_bytes() == before
    assert len(calls) == 5, "the refresh stops at the first failure"


def test_a_refreshed_table_is_written_valid_with_its_header(tmp_path):
    source = prices.table_path("us-east-1")
    (tmp_path / source.name).write_text(source.read_text())
    answers = {"BoxUsage:t3.large": [T3_LARGE], "DataTransfer-Out-Bytes": [TRANSFER]}
    results = run.refresh_prices(["us-east-1"], TODAY, fetcher=_fetch_from(answers),
                                 folder=tmp_path)  # fmt: skip
    table = prices.load("us-east-1", tmp_path)
    assert table.date == TODAY
    assert table.entry("ec2/t3.large")["taken"] == "2026-12-01"
    assert table.entry("elb/alb")["taken"] == "2026-11-30"
    text = (tmp_path / source.name).read_text()
    assert text.startswith("# yaml-language-server: $schema=../../schemas/prices.schema.json")
    assert [r["status"] for r in results[0]["rows"] if r["name"] == "ec2/t3.large"] == ["same"]
    assert not list(tmp_path.glob("*.tmp"))


def test_the_adapter_sends_the_documented_filters_and_reads_every_page():
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")  # fmt: skip
    query = pricelist.query_for("ec2/t3.large", "us-east-1")
    expected = {
        "ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "MaxResults": 100,
        "Filters": [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in [
            ("instanceType", "t3.large"), ("regionCode", "us-east-1"),
            ("operatingSystem", "Linux"), ("tenancy", "Shared"), ("preInstalledSw", "NA"),
            ("capacitystatus", "Used")]],
    }  # fmt: skip
    with Stubber(client) as stub:
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "NextToken": "page-2",
                                           "PriceList": [json.dumps(DEDICATED)]}, expected)
        stub.add_response("get_products", {"FormatVersion": "aws_v1",
                                           "PriceList": [json.dumps(T3_LARGE)]},
                          {**expected, "NextToken": "page-2"})  # fmt: skip
        products = pricelist.fetch(client, query)
        stub.assert_no_pending_responses()
    assert [p["product"]["attributes"]["usagetype"] for p in products] == [
        "DedicatedUsage:t3.large", "BoxUsage:t3.large"]  # fmt: skip
    assert pricelist.price(products, query) == (0.0832, "ok")


def test_the_price_list_client_talks_to_the_us_east_1_endpoint(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    client = pricelist.client()
    assert client.meta.region_name == "us-east-1"
    assert client.meta.endpoint_url == "https://api.pricing.us-east-1.amazonaws.com"


def test_the_shipped_table_dumps_back_to_itself():
    raw = prices.load("us-east-1").raw
    again = yaml.safe_load(prices.dump(raw))
    assert again == raw
