"""deploy/prometheus/alerts.yml: promtool checks it, its unit tests pass (and can
fail), and every alert has a runbook section and a firing test case."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from seamless_sdk import metrics

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "alerts_test.yml"
RUNBOOK = REPO / "docs" / "runbook.md"

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not installed (apt-get install prometheus; .ci/run does)",
)


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@needs_promtool
def test_promtool_check_rules() -> None:
    done = _promtool("check", "rules", str(RULES), cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in done.stdout


@needs_promtool
def test_promtool_rule_unit_tests_pass() -> None:
    done = _promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_the_rule_unit_tests_fail_on_rules_that_always_fire(tmp_path: Path) -> None:
    """The no-fire cases are real: rules whose every expression is true fail them."""
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule["expr"] = "vector(1)"
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(doc))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    done = _promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert done.returncode != 0
    assert "FAILED" in done.stdout + done.stderr


def test_every_alert_is_named_documented_and_has_a_firing_case() -> None:
    alerts = _alerts()
    names = [a["alert"] for a in alerts]
    assert len(names) == len(set(names))
    runbook = RUNBOOK.read_text()
    headings = set(re.findall(r"^## (seamless-[a-z0-9-]+)$", runbook, flags=re.M))
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    firing = {
        t["alertname"]
        for case in cases
        for t in case.get("alert_rule_test", [])
        if t.get("exp_alerts")
    }
    for alert in alerts:
        name = alert["alert"]
        assert name.startswith("seamless-"), name
        assert alert["annotations"]["runbook_url"] == f"docs/runbook.md#{name}"
        assert name in headings, f"docs/runbook.md has no section for {name}"
        assert name in firing, f"alerts_test.yml never fires {name}"
    assert headings == set(names), "runbook sections for alerts that do not exist"


def test_rules_use_only_seamless_metrics() -> None:
    known = set(metrics.METRIC_NAMES)
    for alert in _alerts():
        for name in re.findall(r"\b((?:seamless|backfill)_[a-z_]+)\b", alert["expr"]):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert base in known, f"{alert['alert']} uses {name}"
