"""The Grafana dashboard and the Prometheus alert rules ask only for metrics the service serves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from service.service_layer import ids
from tests.builders import unique
from tests.integration.appeasing import TABLE_ORDER, given_order

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "appeasement-dashboard.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"

#: PromQL words that look like names but are not metrics.
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "offset", "inf", "nan"}
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("", "_sum", "_count"), "info": ("_info",), "untyped": ("",)}
SEVERITIES = {"warning", "critical"}
DURATION = re.compile(r"\d+[smhdwy]")


def metric_names(expr: str) -> set[str]:
    """The metrics a PromQL expression reads (not its functions, labels or keywords)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    names = set()
    for found in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        before = expr[found.start() - 1] if found.start() else " "
        after = expr[found.end():].lstrip()
        if before.isdigit() or before in ".$" or after.startswith("("):
            continue
        if found.group().lower() not in KEYWORDS:
            names.add(found.group())
    return names


def served(text: str) -> set[str]:
    """Every series name /metrics declares, with or without samples yet."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
        names.update(sample.name for sample in family.samples)
    return names


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expression) of every target, and of every templating query."""
    queries = [(panel["title"], target["expr"]) for panel in dashboard["panels"]
               for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((\w+),\s*\w+\)", variable["definition"])
            assert found, variable["definition"]
            queries.append((f"${variable['name']}", found.group(1)))
    return queries


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"]
            for rule in group["rules"]]


@pytest.fixture
async def scraped(api, publish) -> set[str]:
    """/metrics of the running service, after an order was consumed and granted."""
    order_id = unique("DASH")
    await given_order(api, publish, order_id, TABLE_ORDER)
    granted = await api.post(
        f"/v1/orders/{order_id}/appeasements",
        json={"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "5.90"}},
        headers={"Idempotency-Key": ids.message_id()},
    )
    assert granted.status_code == 201
    response = await api.get("/metrics")
    assert response.status_code == 200
    return served(response.text)


def test_metric_names_are_read_from_promql_and_not_its_functions_or_labels():
    expr = ('histogram_quantile(0.95, sum by (le, route) (rate(a_seconds_bucket{route=~"x|y"}'
            '[$__rate_interval]))) / on(group) b_total offset 5m > 1e3 and c')
    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "c"}


async def test_every_metric_of_the_dashboard_is_served(scraped):
    # given the dashboard
    dashboard = json.loads(DASHBOARD.read_text())
    queries = dashboard_queries(dashboard)
    # then it asks for metrics, and /metrics serves each of them
    assert len(queries) >= 20
    missing = {(title, name) for title, expr in queries for name in metric_names(expr)
               if name not in scraped}
    assert not missing, missing
    used = {name for _, expr in queries for name in metric_names(expr)}
    assert {"appeasement_consumer_lag", "appeasement_outbox_pending_rows",
            "appeasement_outbox_oldest_pending_seconds", "appeasement_outbox_quarantined_rows",
            "appeasement_http_requests_total", "appeasement_dead_letters_total",
            "faststream_received_processed_messages_total"} <= used


def test_the_dashboard_is_grafana_json_with_placed_panels_on_one_datasource():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        place = panel["gridPos"]
        assert place["x"] + place["w"] <= 24 and place["h"] > 0, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert target["refId"] and target["expr"].count("(") == target["expr"].count(")")
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"


async def test_every_metric_of_the_alert_rules_is_served(scraped):
    missing = {(rule["alert"], name) for rule in alert_rules()
               for name in metric_names(rule["expr"]) if name not in scraped}
    assert not missing, missing


def test_the_alert_rules_are_well_formed_and_cover_what_operators_must_hear_of():
    # given the rules file, read as Prometheus reads it
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    names = [group["name"] for group in document["groups"]]
    assert len(names) == len(set(names))
    rules = alert_rules()
    # then every rule is an alert with an expression, a duration, a severity and words
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations",
                             "keep_firing_for"}, rule
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
        assert isinstance(rule["expr"], str) and metric_names(rule["expr"]), rule["alert"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
        assert DURATION.fullmatch(str(rule["for"])), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert len({rule["alert"] for rule in rules}) == len(rules)
    # and lag, the outbox's age, dead letters, quarantine and 5xx each have one
    reads = {name for rule in rules for name in metric_names(rule["expr"])}
    assert {"appeasement_consumer_lag", "appeasement_outbox_oldest_pending_seconds",
            "appeasement_dead_letters_total", "appeasement_outbox_quarantined_rows",
            "appeasement_http_requests_total"} <= reads
    assert any('status=~"5.."' in rule["expr"] for rule in rules)
