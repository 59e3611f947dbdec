"""Rules as data: the loader validates every field and reports every problem with file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigile.cli import app
from vigile.detect.rules import default_rules_dir, load_rules, parse_duration
from vigile.errors import ConfigError

SHIPPED = default_rules_dir()

GOOD = """\
id: my-rule
title: A test rule
detector: unexplained
mode: burst
severity: {medium: 2, high: 4}
risk: 10
simulation: false
window: 30m
cooldown: 1h
params: {min_count: 5, peer_quantile: 0.9, peer_multiplier: 2.0, own_multiplier: 3.0, prior: 4,
         min_peers: 10, new_account_factor: 2.0}
tags: {mitre: [T1213], owasp_api: ["API6:2023"]}
"""


def _rules_dir(tmp_path: Path, **files: str) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    shutil.copy(SHIPPED / "settings.yaml", d / "settings.yaml")
    for name, text in files.items():
        (d / f"{name}.yaml").write_text(text)
    return d


def test_when_shipped_rules_load_then_every_rule_is_valid_and_documented() -> None:
    rules = load_rules()
    assert len(rules) >= 20
    for rule in rules.rules.values():
        assert rule.doc is not None, f"{rule.id} has no .md beside it"
        assert rule.tags.get("mitre"), rule.id
        assert rule.title


def test_when_a_rule_is_valid_then_bands_and_durations_are_typed(tmp_path: Path) -> None:
    rules = load_rules(_rules_dir(tmp_path, **{"my-rule": GOOD}))
    rule = rules.rules["my-rule"]
    assert rule.window == 1800.0 and rule.cooldown == 3600.0
    assert rule.severity_for(1.0) is None
    assert rule.severity_for(2.5) == "medium"
    assert rule.severity_for(9.0) == "high"
    assert rule.params.min_count == 5


def test_when_a_rule_has_many_problems_then_all_are_reported_with_file_and_line(
    tmp_path: Path,
) -> None:
    bad = (
        GOOD.replace("severity: {medium: 2, high: 4}", "severity: severe")
        .replace("cooldown: 1h", "cooldown: soon")
        .replace("min_count: 5", "min_count: five")
        .replace("T1213", "X99")
    )
    bad += "colour: blue\n"
    d = _rules_dir(tmp_path, **{"my-rule": bad})
    with pytest.raises(ConfigError) as err:
        load_rules(d)
    problems = err.value.problems
    path = str(d / "my-rule.yaml")
    text = "\n".join(problems)
    assert f"{path}:5: severity must be one of" in text
    assert f"{path}:9: cooldown: not a duration" in text
    assert f"{path}:10: params.min_count" in text
    assert f"{path}:12: tags.mitre: 'X99'" in text
    assert f"{path}:13: unknown key 'colour'" in text
    assert len(problems) >= 5


def test_when_params_are_missing_or_unknown_then_each_is_named(tmp_path: Path) -> None:
    bad = GOOD.replace("min_count: 5, ", "").replace("prior: 4", "prior: 4, typo: 1")
    d = _rules_dir(tmp_path, **{"my-rule": bad})
    with pytest.raises(ConfigError) as err:
        load_rules(d)
    text = "\n".join(err.value.problems)
    assert "unknown parameter 'typo'" in text
    assert "missing parameter 'min_count'" in text


def test_when_detector_or_mode_is_unknown_then_the_known_ones_are_listed(tmp_path: Path) -> None:
    d = _rules_dir(
        tmp_path,
        **{
            "my-rule": GOOD.replace("detector: unexplained", "detector: magic"),
            "other": GOOD.replace("id: my-rule", "id: other").replace(
                "mode: burst", "mode: hourly"
            ),
        },
    )
    with pytest.raises(ConfigError) as err:
        load_rules(d)
    text = "\n".join(err.value.problems)
    assert "unknown detector 'magic'" in text and "unexplained" in text
    assert "has no mode 'hourly'" in text


def test_when_yaml_is_broken_or_id_mismatches_then_the_line_is_given(tmp_path: Path) -> None:
    d = _rules_dir(
        tmp_path,
        **{"broken": "id: broken\ntitle: [unclosed\n", "mismatch": GOOD},
    )
    with pytest.raises(ConfigError) as err:
        load_rules(d)
    text = "\n".join(err.value.problems)
    assert f"{d / 'broken.yaml'}:" in text and "not valid YAML" in text
    assert f"{d / 'mismatch.yaml'}:1: id 'my-rule' does not match the file name" in text


def test_when_settings_are_wrong_then_the_field_and_line_are_reported(tmp_path: Path) -> None:
    d = _rules_dir(tmp_path, **{"my-rule": GOOD})
    text = (d / "settings.yaml").read_text().replace("max_sessions: 300000", "max_sessions: many")
    (d / "settings.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_rules(d)
    assert any("settings.max_sessions" in p and ".yaml:" in p for p in err.value.problems)


def test_when_durations_are_written_in_units_then_they_become_seconds() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("30m") == 1800
    assert parse_duration("4h") == 14400
    assert parse_duration("7d") == 604800
    assert parse_duration(12) == 12
    for bad in ("soon", -1, True, "3 parsecs"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_when_rules_check_finds_problems_then_it_exits_2_with_every_location(
    tmp_path: Path,
) -> None:
    d = _rules_dir(tmp_path, **{"my-rule": GOOD})
    result = CliRunner().invoke(app, ["rules", "check", str(d)])
    # the rule is valid but has no .md beside it
    assert result.exit_code != 0
    assert "my-rule.md" in str(result.exception) or "my-rule.md" in result.output
    (d / "my-rule.md").write_text("# my-rule\n")
    result = CliRunner().invoke(app, ["rules", "check", str(d)])
    assert result.exit_code == 0, result.output
    assert "1 rules OK" in result.output


def test_when_rules_are_listed_as_json_then_each_has_its_detector_and_tags() -> None:
    import orjson

    result = CliRunner().invoke(app, ["rules", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = orjson.loads(result.output)
    ids = {r["id"] for r in rows}
    assert {"canary-read", "unexplained-burst", "campaign", "account-risk"} <= ids
    assert all(r["tags"]["mitre"] for r in rows)


def test_when_an_infrastructure_rule_groups_fewer_than_two_then_it_is_refused(
    tmp_path: Path,
) -> None:
    shipped = (SHIPPED / "campaign-infrastructure.yaml").read_text()
    bad = shipped.replace("min_tenants: 3", "min_tenants: 1")
    assert bad != shipped
    d = _rules_dir(tmp_path, **{"campaign-infrastructure": bad})
    with pytest.raises(ConfigError) as err:
        load_rules(d)
    assert "min_accounts and min_tenants must be 2 or more" in "\n".join(err.value.problems)
    # the shipped text loads, and a campaign rule without its mode is told which it needs
    (tmp_path / "ok").mkdir()
    d2 = _rules_dir(tmp_path / "ok", **{"campaign-infrastructure": shipped})
    assert "campaign-infrastructure" in load_rules(d2).rules
    campaign = (SHIPPED / "campaign.yaml").read_text().replace("mode: abnormal\n", "")
    (tmp_path / "nomode").mkdir()
    d3 = _rules_dir(tmp_path / "nomode", campaign=campaign)
    with pytest.raises(ConfigError) as err3:
        load_rules(d3)
    assert "needs a mode (one of: abnormal, infrastructure)" in "\n".join(err3.value.problems)
