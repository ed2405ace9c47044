"""Validation (issue 6): metric rules, data checks from stored fingerprints, the result's
renderings, `%%track --baseline`, and the `validate` command."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import jupyter_tracker as jt
from jupyter_tracker import api
from jupyter_tracker.capture.data import fingerprint
from jupyter_tracker.errors import RunNotFound, StageNotFound, UsageProblem
from jupyter_tracker.capture.recorder import Recorder
from jupyter_tracker.records import DataRef
from jupyter_tracker.store import Store
from jupyter_tracker.models.validation import drift_statistics, parse_rules

from conftest import run_cli

pytestmark = pytest.mark.slow  # a real kernel per test

START = 1_700_000_000.0
RNG = np.random.default_rng(0)


def record(store: Store, metrics: dict | None = None, inputs: dict | None = None, model: object = None,
           name: str = "train") -> str:
    """A finished run with the given metrics and inputs (fingerprinted as a tracked cell does)."""
    recorder = Recorder(store, name, clock=lambda: START)
    recorder.log_metrics(metrics or {})
    for input_name, value in (inputs or {}).items():
        recorder.inputs.append(DataRef("input", input_name, "variable", fingerprint(value)))
    if model is not None:
        with api.recording(recorder):
            jt.log_model(model)
    recorder.finish("finished")
    return recorder.run_id


def frame(n: int = 2000, shift: float = 0.0, nulls: float = 0.0, seed: int = 0, **extra: object) -> pd.DataFrame:
    """Two numeric columns drawn from N(0, 1) (``age`` moved by ``shift``) and a text column."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({
        "age": rng.normal(40 + shift * 10, 10, n),
        "income": rng.normal(0, 1, n),
        "city": rng.choice(["paris", "lyon", "nice"], n),
    })
    if nulls:
        data.loc[: int(n * nulls) - 1, "income"] = np.nan
    for key, value in extra.items():
        data[key] = value
    return data


def check(result, kind: str, subject: str):
    found = [c for c in result.checks if (c.kind, c.subject) == (kind, subject)]
    assert len(found) == 1, [(c.kind, c.subject) for c in result.checks]
    return found[0]


# ------------------------------------------------------------------ metric rules
@pytest.mark.parametrize("rule, candidate, baseline, passes", [
    (">= baseline - 0.01", 0.905, 0.91, True),
    (">= baseline - 0.01", 0.899, 0.91, False),
    ("<= 0.2", 0.2, 0.5, True),
    ("<= 0.2", 0.21, 0.1, False),
    (">= baseline * 0.98", 0.89, 0.9, True),
    (">= baseline * 0.98", 0.88, 0.9, False),
    ("> baseline", 0.9, 0.9, False),
    ("<baseline+0.05", 0.94, 0.9, True),
    ("< 1e-1", 0.05, 1.0, True),
    (">= baseline / 2", 0.4, 0.9, False),
])
def test_each_rule_form_passes_or_fails_with_its_figures(store, rule, candidate, baseline, passes):
    # Given a baseline and a candidate run with one metric each
    base = record(store, {"acc": baseline})
    cand = record(store, {"acc": candidate})
    # When validated with the rule
    result = jt.validate(cand, baseline=base, rules={"acc": rule})
    # Then the metric check passes or fails, showing both values and the limit
    metric = check(result, "metric", "acc")
    assert (metric.status == "pass") is passes and result.passed is passes
    assert metric.candidate == f"{candidate:.6g}" and metric.baseline == f"{baseline:.6g}"
    assert rule.replace(" ", "") in metric.detail.replace(" ", "")
    assert metric.value == candidate and metric.limit is not None


def test_rules_may_be_lists_per_metric_or_metric_op_limit_strings(store):
    base = record(store, {"acc": 0.9, "loss": 0.3})
    cand = record(store, {"acc": 0.91, "loss": 0.25})
    by_metric = jt.validate(cand, baseline=base, rules={"loss": ["<= baseline", "<= 0.2"]})
    assert [c.status for c in by_metric.checks if c.kind == "metric"] == ["pass", "fail"]
    strings = jt.validate(cand, baseline=base, rules=["acc >= baseline - 0.01", "loss<=0.3"])
    assert [(c.subject, c.status) for c in strings.checks if c.kind == "metric"] == [("acc", "pass"), ("loss", "pass")]


@pytest.mark.parametrize("rules, message", [
    ({"acc": ">== 0.9"}, "malformed rule for metric 'acc': '>== 0.9'"),
    ({"acc": "baseline"}, "malformed rule for metric 'acc': 'baseline'"),
    ({"acc": ">= basline - 0.01"}, "'>= basline - 0.01'"),
    ({"acc": ">= baseline -"}, "malformed rule"),
    ({"acc": ">= baseline ** 2"}, "malformed rule"),
    ({"acc": ""}, "malformed rule"),
    ({"acc": 0.9}, "must be a string like '>= baseline - 0.01'"),
    ({"acc": ">= baseline / 0"}, "divides by zero"),
    (["acc"], "expected 'METRIC OP LIMIT'"),
    (["> 0.5"], "expected 'METRIC OP LIMIT'"),
    (42, "rules must be a dict"),
])
def test_a_malformed_rule_is_a_clear_error_before_anything_is_read(rules, message, tracker_db):
    # Given no store at all: the rule is checked first
    with pytest.raises(UsageProblem) as error:
        jt.validate("abc", rules=rules)
    assert message in str(error.value)
    if "malformed rule for metric" in message:
        assert "'>= baseline - 0.01', '<= 0.2', '>= baseline * 0.98'" in str(error.value)


def test_missing_or_nan_metrics_fail_their_rules(store):
    base = record(store, {"acc": 0.9, "f1": math.nan})
    cand = record(store, {"f1": 0.8, "loss": math.nan})
    result = jt.validate(cand, baseline=base, rules={"acc": ">= 0.5", "f1": ">= baseline", "loss": "<= 1"})
    assert check(result, "metric", "acc").detail.startswith("the candidate has no value")
    assert check(result, "metric", "f1").detail.startswith("the baseline's value is NaN")
    assert check(result, "metric", "loss").detail.startswith("the candidate's value is NaN")
    assert [c.status for c in result.failures] == ["fail"] * 3


def test_without_rules_known_metrics_must_not_get_worse(store):
    # Given a candidate that is better in acc but worse in loss, and has a metric of unknown direction
    base = record(store, {"acc": 0.9, "loss": 0.2, "n_trees": 100})
    cand = record(store, {"acc": 0.95, "loss": 0.3, "n_trees": 50})
    # When validated without rules
    result = jt.validate(cand, baseline=base)
    # Then acc (higher is better) passes, loss (lower is better) fails, n_trees is not judged
    assert [(c.subject, c.status) for c in result.checks if c.kind == "metric"] == [("acc", "pass"), ("loss", "fail")]
    # And rules={} checks no metric at all
    assert [c for c in jt.validate(cand, baseline=base, rules={}).checks if c.kind == "metric"] == []


# ------------------------------------------------------------------ data checks
def test_a_drifted_column_is_caught_and_an_unchanged_one_passes(store):
    # Given a baseline trained on one draw, and a candidate on a fresh draw where only `age` moved
    base = record(store, {"acc": 0.9}, {"X_train": frame(seed=1)})
    cand = record(store, {"acc": 0.9}, {"X_train": frame(seed=2, shift=1.0)})
    # When validated
    result = jt.validate(cand, baseline=base)
    # Then age fails the drift check, with its PSI and KS; income (new sample, same law) passes
    age, income = check(result, "drift", "X_train.age"), check(result, "drift", "X_train.income")
    assert age.status == "fail" and age.value > 0.5 and "KS" in age.detail
    assert income.status == "pass" and income.value < 0.05
    assert float(age.candidate.split()[1]) == pytest.approx(50, abs=1)  # "mean 49.44 sd 9.977"
    assert float(age.baseline.split()[1]) == pytest.approx(40, abs=1)
    assert not result.passed and [c.subject for c in result.failures] == ["X_train.age"]
    # And a text column has no drift check, but its null rate and the schema are checked
    assert [c.kind for c in result.checks if c.subject == "X_train.city"] == ["null_rate"]
    assert check(result, "schema", "X_train").status == "pass"


def test_drift_thresholds_are_configurable(store):
    base = record(store, inputs={"X_train": frame(seed=1)})
    cand = record(store, inputs={"X_train": frame(seed=2, shift=0.6)})
    default = check(jt.validate(cand, baseline=base), "drift", "X_train.age")
    assert default.status == "fail" and 0.2 < default.value < 2
    relaxed = jt.validate(cand, baseline=base, thresholds={"psi": 5})
    assert check(relaxed, "drift", "X_train.age").status == "pass"
    by_ks = jt.validate(cand, baseline=base, thresholds={"psi": 5, "ks": 0.05})
    age = check(by_ks, "drift", "X_train.age")
    assert age.status == "fail" and "KS limit 0.05" in age.detail  # a 0.6 sd shift: KS about 0.24
    assert check(by_ks, "drift", "X_train.income").status == "pass"
    with pytest.raises(UsageProblem, match="unknown threshold 'pvalue': use psi, ks, null_rate"):
        jt.validate(cand, baseline=base, thresholds={"pvalue": 0.05})
    with pytest.raises(UsageProblem, match="must be a number >= 0"):
        jt.validate(cand, baseline=base, thresholds={"psi": -1})


def test_identical_inputs_pass_at_once(store):
    data = frame(seed=3)
    base = record(store, inputs={"X_train": data})
    cand = record(store, inputs={"X_train": data.copy()})
    result = jt.validate(cand, baseline=base)
    assert [(c.kind, c.status, c.detail) for c in result.checks if c.subject.startswith("X_train")] == [
        ("data", "pass", "identical content")]


def test_schema_changes_are_caught(store):
    # Given a candidate whose input lost `city`, retyped `income` and gained `score`
    old = frame(seed=4)
    new = old.drop(columns=["city"]).assign(income=old["income"].astype("float32"), score=1.0)
    base = record(store, inputs={"X_train": old})
    cand = record(store, inputs={"X_train": new})
    schema = check(jt.validate(cand, baseline=base), "schema", "X_train")
    # Then the schema check fails and names each change
    assert schema.status == "fail"
    assert "removed: city" in schema.detail and "retyped: income float64 -> float32" in schema.detail
    assert "added: score" in schema.detail and (schema.candidate, schema.baseline) == ("3 columns", "3 columns")
    # And a column only added is a warning, not a failure
    added = record(store, inputs={"X_train": old.assign(score=1.0)})
    assert check(jt.validate(added, baseline=base), "schema", "X_train").status == "warn"


def test_arrays_and_kinds_are_compared_by_shape_and_kind(store):
    base = record(store, inputs={"X": RNG.normal(size=(100, 4)), "y": pd.Series(RNG.normal(size=100))})
    cand = record(store, inputs={"X": RNG.normal(size=(100, 5)), "y": RNG.normal(size=100)})
    result = jt.validate(cand, baseline=base)
    assert check(result, "schema", "X").detail == "the shape changed beyond the row count"
    assert check(result, "schema", "y").detail == "the input changed kind: series -> ndarray"


def test_a_growing_null_rate_fails_and_a_steady_one_passes(store):
    base = record(store, inputs={"X_train": frame(seed=5)})
    cand = record(store, inputs={"X_train": frame(seed=6, nulls=0.2)})
    result = jt.validate(cand, baseline=base)
    income, age = check(result, "null_rate", "X_train.income"), check(result, "null_rate", "X_train.age")
    assert (income.status, income.candidate, income.baseline) == ("fail", "20.0%", "0.0%")
    assert income.value == pytest.approx(0.2)
    assert age.status == "pass"
    relaxed = jt.validate(cand, baseline=base, thresholds={"null_rate": 0.25})
    assert check(relaxed, "null_rate", "X_train.income").status == "pass"


def test_different_validation_data_gives_a_warning(store):
    # Given two runs evaluated on different test sets, trained on the same data
    train = frame(seed=7)
    base = record(store, {"acc": 0.9}, {"X_train": train, "X_test": frame(n=300, seed=8)})
    cand = record(store, {"acc": 0.92}, {"X_train": train, "X_test": frame(n=300, seed=9)})
    # When validated
    result = jt.validate(cand, baseline=base)
    # Then a warning says the metrics were measured on different data; it does not fail the run
    warning = check(result, "validation_data", "X_test")
    assert warning.status == "warn" and "evaluated on different data" in warning.detail
    assert warning.candidate != warning.baseline and result.passed
    assert [c.kind for c in result.checks if c.subject == "X_train"] == ["data"]  # not evaluation data
    # And the same test set passes; eval_inputs= names evaluation data explicitly
    same = record(store, {"acc": 0.92}, {"X_train": frame(seed=10), "X_test": frame(n=300, seed=8)})
    assert check(jt.validate(same, baseline=base), "validation_data", "X_test").status == "pass"
    explicit = jt.validate(same, baseline=base, eval_inputs=["X_train"])
    assert check(explicit, "validation_data", "X_train").status == "warn"
    assert not [c for c in explicit.checks if c.kind == "validation_data" and c.subject == "X_test"]


def test_inputs_only_one_run_read_are_warnings(store):
    base = record(store, inputs={"old": frame(n=50)})
    cand = record(store, inputs={"new": frame(n=50)})
    result = jt.validate(cand, baseline=base)
    assert check(result, "input", "new").detail == "new input: the baseline did not read it"
    assert check(result, "input", "old").detail == "the candidate did not read this input"


def test_drift_statistics_from_histograms():
    def stats(values):
        counts, edges = np.histogram(values, bins=10)
        return {"histogram": {"edges": edges.tolist(), "counts": counts.tolist()}}

    same = stats(RNG.normal(0, 1, 5000))
    assert drift_statistics(same, same) == (0.0, 0.0)
    moved = drift_statistics(stats(RNG.normal(1, 1, 5000)), same)
    assert moved[0] > 0.5 and 0.3 < moved[1] < 0.5  # KS of N(1,1) vs N(0,1) is 0.38
    outside = drift_statistics(stats(RNG.normal(10, 1, 5000)), same)
    assert outside[1] == pytest.approx(1.0) and outside[0] > 5


# ------------------------------------------------------------------ baselines and rendering
def test_baseline_is_a_stage_or_a_run_and_missing_ones_are_clear_errors(store):
    first = record(store, {"acc": 0.9}, model="m")
    second = record(store, {"acc": 0.95}, model="m2")
    with pytest.raises(StageNotFound, match="nothing has been promoted to 'production' for model 'model' yet"):
        jt.validate(second)
    jt.promote(first)
    by_stage = jt.validate(second[:7], baseline="production")
    assert (by_stage.baseline_id, by_stage.baseline_stage) == (first, "production")
    assert by_stage.baseline_label == f"production ({first[:8]})"
    assert jt.validate(second, baseline=first[:7]).baseline_label == first[:8]
    with pytest.raises(StageNotFound, match="no model 'model' in stage 'staging'"):
        jt.validate(second, baseline="staging")
    with pytest.raises(RunNotFound, match="no run matches 'abc123'"):
        jt.validate(second, baseline="abc123")
    with pytest.raises(StageNotFound, match="nothing has been promoted to 'production' for model 'other'"):
        jt.validate(second, name="other")


def test_result_renders_as_escaped_html_and_as_text(store):
    # Given an input whose column name is markup
    hostile = "<img src=x onerror=alert(1)>"
    base = record(store, {"acc": 0.9}, {"X_train": frame(seed=1).rename(columns={"age": hostile})})
    cand = record(store, {"acc": 0.8}, {"X_train": frame(seed=2, shift=1).rename(columns={"age": hostile})})
    result = jt.validate(cand, baseline=base)
    html, text = result._repr_html_(), str(result)
    # Then the HTML escapes it and lists every check; failures come first, passes folded
    assert hostile not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.index("FAIL") < html.index("passed checks")
    assert html.count("<tr>") == len(result.checks) + 2  # one header row per table
    # And the text has a verdict line and one line per check
    lines = text.splitlines()
    assert lines[0].startswith(f"validation of {cand[:8]} (train) against {base[:8]} (train): FAILED (2 failed")
    assert len(lines) == len(result.checks) + 2
    assert any(line.lstrip().startswith("FAIL  metric") for line in lines)
    assert list(result.frame().columns) == ["kind", "subject", "status", "candidate", "baseline", "detail",
                                            "value", "limit"]
    assert json.loads(json.dumps(result.to_dict()))["passed"] is False


def test_parse_rules_keeps_the_metric_names_in_order():
    rules = parse_rules({"acc": ">= baseline - 0.01", "loss": ["<= 0.2", "< baseline"]})
    assert [(r.metric, r.op, r.limit(1.0)) for r in rules] == [("acc", ">=", 0.99), ("loss", "<=", 0.2),
                                                                ("loss", "<", 1.0)]
    assert parse_rules(None) is None


# ------------------------------------------------------------------ %%track --baseline
def test_track_baseline_prints_the_validation_after_the_summary(kernel):
    # Given a kernel where one model is in production
    kernel.run("import numpy as np, pandas as pd\nimport jupyter_tracker as jt\n"
               "X_train = pd.DataFrame({'a': np.random.default_rng(1).normal(0, 1, 500)})")
    out = kernel.run("%%track train --baseline production\nrows = len(X_train)\nacc = 0.9\njt.log_model({'v': 1})")
    # Then with no baseline yet the cell still runs, and says why there is no validation
    assert [line for line in out.warning_lines() if "validate against 'production'" in line]
    assert "nothing has been promoted" in out.stderr
    kernel.run("jt.promote(jt.runs()['run_id'].iloc[-1])")
    # When a tracked cell with a drifted input names the baseline
    kernel.run("X_train = pd.DataFrame({'a': np.random.default_rng(2).normal(3, 1, 500)})")
    out = kernel.run("%%track train -b production --rule 'acc >= baseline - 0.01'\nacc = 0.95\nX_train.shape")
    # Then the summary comes first, then the validation, as text and HTML
    texts = [d.get("text/plain", "") for d in out.displays]
    summary = next(i for i, t in enumerate(texts) if t.startswith("[jupyter_tracker]"))
    validation = next(i for i, t in enumerate(texts) if t.startswith("validation of"))
    assert summary < validation
    assert "FAILED" in texts[validation] and "X_train.a" in texts[validation]
    assert "(rule >= baseline - 0.01)" in texts[validation]
    assert "jupyter-tracker-validation" in out.displays[validation]["text/html"]
    assert out.warning_lines() == []


def test_track_baseline_bad_options_stop_the_cell_with_one_line(kernel):
    for line, message in (("%%track fit --baseline production --rule 'acc >== 1'", "malformed rule for metric 'acc'"),
                          ("%%track fit --rule 'acc >= 0.5'", "--rule needs --baseline")):
        out = kernel.run(f"{line}\nran = True", allow_error=True)
        lines = out.stderr.strip().splitlines()
        assert out.error is None and len(lines) == 1 and lines[0].startswith("UsageError: ") and message in lines[0]
    assert kernel.run("print('ran' in dir())").stdout.strip() == "False"


def test_track_cell_logs_a_model_and_show_lists_it(kernel):
    kernel.run("import jupyter_tracker as jt")
    kernel.run("%%track fit\nacc = 0.5\nclf = {'w': [1, 2]}\njt.log_model(clf)\njt.log_model(clf, 'copy')")
    run_id = kernel.value("jt.runs()['run_id'].iloc[-1]")
    shown = kernel.run(f"%track show {run_id[:8]}").text()
    assert "artifacts:" in shown and "model pickle" in shown and "copy" in shown
    assert kernel.value(f"jt.load_model(run='{run_id[:8]}', name='copy')") == {"w": [1, 2]}


# ------------------------------------------------------------------ CLI
def test_validate_from_the_command_line(store, tracker_db):
    base = record(store, {"acc": 0.9}, {"X_train": frame(seed=1)}, model="m")
    cand = record(store, {"acc": 0.91}, {"X_train": frame(seed=2, shift=1)})
    jt.promote(base)
    # When validated against production, and with drift allowed
    failed = run_cli("validate", cand[:8], db=tracker_db)
    passed = run_cli("validate", cand[:8], "-b", base[:8], "--psi", "50", "--null-rate", "0.1",
                     "--rule", "acc >= baseline - 0.01", "--format", "json", db=tracker_db)
    # Then the report is printed; the exit code says whether every check passed
    assert failed.code == 1 and failed.stderr == "" and "FAIL  drift" in failed.stdout
    assert failed.stdout.startswith(f"validation of {cand[:8]}") and "production" in failed.stdout.splitlines()[0]
    assert passed.code == 0, passed.stderr
    report = json.loads(passed.stdout)
    assert report["passed"] is True and report["thresholds"] == {"psi": 50.0, "ks": None, "null_rate": 0.1}
    assert {c["kind"] for c in report["checks"]} >= {"status", "metric", "schema", "null_rate", "drift"}
    # And bad input is one Error line
    for args, code, message in ((["validate", cand, "--rule", "acc >=="], 2, "malformed rule"),
                                (["validate", cand, "-b", "staging"], 3, "no model 'model' in stage 'staging'")):
        result = run_cli(*args, db=tracker_db)
        assert result.code == code and result.stderr.startswith("Error: ") and message in result.stderr
        assert len(result.stderr.splitlines()) == 1
