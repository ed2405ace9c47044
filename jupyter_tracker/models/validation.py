"""Validation of a candidate run against a baseline run: metric rules and data checks.

Metric rules compare a metric of the candidate with a number or with the baseline's value
of the same metric: ``">= baseline - 0.01"``, ``"<= 0.2"``, ``">= baseline * 0.98"``.
Data checks compare each input of the candidate with the baseline's input of the same
name, using only the fingerprints stored with the runs (no data is re-read): schema
(columns added, removed or retyped), null rate per column, and distribution drift per
numeric column (PSI, and a KS statistic, from the stored histograms). Inputs that look like
evaluation data (``X_test``, ``y_val``, ...) that differ between the runs give a warning:
the two runs' metrics were then measured on different data.

This module works on records only: no store, no SQL, no pandas until a frame is asked for.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from html import escape
from typing import Any

from ..render import format_value
from ..errors import UsageProblem
from ..records import INDEX_COLUMN, DataRef, Fingerprint, Run

DEFAULT_THRESHOLDS: dict[str, float | None] = {
    # PSI above 0.2 is the usual "significant shift" line of credit-scoring practice.
    "psi": 0.2,
    # KS is reported, and checked only when a threshold is given.
    "ks": None,
    # An increase of the share of missing values by more than 5 points fails.
    "null_rate": 0.05,
}
PSI_FLOOR = 1e-4  # shares of 0 would make PSI infinite: floor them, as PSI implementations do

# Which way is better, for the default rules (used when no rules are given).
HIGHER_IS_BETTER = frozenset({
    "acc", "accuracy", "balanced_accuracy", "auc", "roc_auc", "pr_auc", "f1", "f1_score", "precision", "recall",
    "r2", "score", "val_score", "test_score", "val_acc", "test_acc", "val_accuracy", "test_accuracy", "top1", "top5",
})
LOWER_IS_BETTER = frozenset({
    "loss", "val_loss", "test_loss", "mse", "rmse", "mae", "mape", "logloss", "log_loss", "error", "err",
})
# Evaluation data, by name: X_test, y_test, test_df, X_val, valid, holdout, eval_set, ...
EVAL_NAME = re.compile(r"(?:^|[^a-z])(test|val|valid|validation|holdout|eval)(?![a-z])", re.IGNORECASE)

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RULE = re.compile(
    rf"^\s*(?P<op>>=|<=|>|<)\s*(?:(?P<baseline>baseline)\s*(?:(?P<arith>[-+*/])\s*(?P<operand>{_NUMBER}))?"
    rf"|(?P<number>{_NUMBER}))\s*$"
)
RULE_HELP = ("expected an operator (>=, <=, >, <) and a number or 'baseline', optionally with + - * / and a number:"
             " '>= baseline - 0.01', '<= 0.2', '>= baseline * 0.98'")
PASS, FAIL, WARN = "pass", "fail", "warn"


# ------------------------------------------------------------------ rules
@dataclass(frozen=True)
class Rule:
    """One metric rule, parsed: ``metric op limit``, the limit a number or computed from the baseline."""

    metric: str
    op: str
    text: str
    number: float | None = None  # the limit, when it does not involve the baseline
    arith: str | None = None  # how the baseline is adjusted: + - * /
    operand: float | None = None

    @property
    def uses_baseline(self) -> bool:
        return self.number is None

    def limit(self, baseline: float | None) -> float:
        if self.number is not None:
            return self.number
        assert baseline is not None
        if self.arith is None:
            return baseline
        operand = self.operand or 0.0
        return {"+": baseline + operand, "-": baseline - operand, "*": baseline * operand,
                "/": baseline / operand if operand else math.nan}[self.arith]

    def holds(self, value: float, limit: float) -> bool:
        return {">=": value >= limit, "<=": value <= limit, ">": value > limit, "<": value < limit}[self.op]


def parse_rule(metric: str, text: Any) -> Rule:
    """Parse one rule for ``metric``.

    >>> parse_rule("acc", ">= baseline - 0.01").limit(0.9)
    0.89
    """
    if not isinstance(text, str):
        raise UsageProblem(f"the rule for metric '{metric}' must be a string like '>= baseline - 0.01', not {text!r}")
    match = _RULE.match(text)
    if match is None:
        raise UsageProblem(f"malformed rule for metric '{metric}': '{text}'; {RULE_HELP}")
    if match["number"] is not None:
        return Rule(metric, match["op"], text.strip(), number=float(match["number"]))
    operand = float(match["operand"]) if match["operand"] is not None else None
    if match["arith"] == "/" and operand == 0:
        raise UsageProblem(f"malformed rule for metric '{metric}': '{text}' divides by zero")
    return Rule(metric, match["op"], text.strip(), arith=match["arith"], operand=operand)


def parse_rules(rules: Any) -> list[Rule] | None:
    """Rules as a dict ``{metric: rule or [rules]}`` or a list of ``"metric op limit"`` strings; None stays None.

    >>> [r.metric for r in parse_rules(["acc >= baseline - 0.01", "loss <= 0.2"])]
    ['acc', 'loss']
    """
    if rules is None:
        return None
    parsed = []
    if isinstance(rules, dict):
        for metric, texts in rules.items():
            for text in texts if isinstance(texts, (list, tuple)) else [texts]:
                parsed.append(parse_rule(str(metric), text))
        return parsed
    if isinstance(rules, str):
        rules = [rules]
    if not isinstance(rules, (list, tuple)):
        raise UsageProblem(f"rules must be a dict like {{'acc': '>= baseline - 0.01'}}, not {type(rules).__name__}")
    for item in rules:
        text = str(item)
        at = min((i for i in (text.find("<"), text.find(">")) if i >= 0), default=-1)
        metric = text[:at].strip() if at > 0 else ""
        if not metric:
            raise UsageProblem(f"malformed rule '{text}': expected 'METRIC OP LIMIT', e.g. 'acc >= baseline - 0.01'")
        parsed.append(parse_rule(metric, text[at:]))
    return parsed


def default_rules(candidate: Run, baseline: Run) -> list[Rule]:
    """Without rules: every metric both runs have, whose name says which way is better, must not get worse."""
    rules = []
    for metric in candidate.metrics:
        if metric not in baseline.metrics:
            continue
        if metric.lower() in HIGHER_IS_BETTER:
            rules.append(Rule(metric, ">=", ">= baseline"))
        elif metric.lower() in LOWER_IS_BETTER:
            rules.append(Rule(metric, "<=", "<= baseline"))
    return rules


def parse_thresholds(thresholds: dict[str, Any] | None) -> dict[str, float | None]:
    merged = dict(DEFAULT_THRESHOLDS)
    for key, value in (thresholds or {}).items():
        if key not in DEFAULT_THRESHOLDS:
            raise UsageProblem(f"unknown threshold '{key}': use {', '.join(DEFAULT_THRESHOLDS)}")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
                                  or math.isnan(value)):
            raise UsageProblem(f"threshold '{key}' must be a number >= 0 (or None), not {value!r}")
        merged[key] = None if value is None else float(value)
    return merged


@dataclass(frozen=True)
class ValidationSpec:
    """What to check, checked for mistakes before any run is read."""

    rules: list[Rule] | None
    thresholds: dict[str, float | None]
    eval_inputs: tuple[str, ...] | None

    @classmethod
    def make(cls, rules: Any = None, thresholds: dict[str, Any] | None = None,
             eval_inputs: list[str] | None = None) -> "ValidationSpec":
        if isinstance(eval_inputs, str):
            eval_inputs = [eval_inputs]
        return cls(parse_rules(rules), parse_thresholds(thresholds),
                   None if eval_inputs is None else tuple(eval_inputs))


# ------------------------------------------------------------------ result
@dataclass(frozen=True)
class Check:
    """One check: what was compared, pass/fail/warn, and the figures on each side."""

    kind: str  # status | metric | validation_data | input | data | schema | null_rate | drift
    subject: str  # a metric, an input, or input.column
    status: str  # pass | fail | warn
    candidate: str
    baseline: str
    detail: str
    value: float | None = None  # the figure compared (metric value, PSI, null-rate increase)
    limit: float | None = None  # what it was compared with

    def line(self) -> str:
        return f"{self.kind} {self.subject}: {self.detail}"


@dataclass
class ValidationResult:
    """Every check of a candidate run against a baseline; HTML in a notebook, text elsewhere.

    For example::

        result = validate("9be0", baseline="production", rules={"acc": ">= baseline - 0.01"})
        result.passed, [c.line() for c in result.failures]
    """

    candidate_id: str
    candidate_name: str
    baseline_id: str
    baseline_name: str
    baseline_stage: str | None = None  # the registry stage the baseline held, if it was given as a stage
    checks: list[Check] = field(default_factory=list)
    thresholds: dict[str, float | None] = field(default_factory=dict)

    @property
    def baseline_label(self) -> str:
        """"production (3f2a1b2c)" for a stage's holder, "3f2a1b2c" for a run given by id."""
        short = self.baseline_id[:8]
        return f"{self.baseline_stage} ({short})" if self.baseline_stage else short

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status == WARN]

    def verdict(self) -> str:
        warnings = len(self.warnings)
        counts = f"{len(self.failures)} failed, {warnings} warning{'s' * (warnings != 1)}, " \
                 f"{len(self.checks) - len(self.failures) - warnings} passed"
        return f"{'PASSED' if self.passed else 'FAILED'} ({counts})"

    def summary(self) -> dict[str, Any]:
        """What the registry keeps of a validation."""
        return {"baseline": self.baseline_id, "passed": self.passed, "checks": len(self.checks),
                "failed": [c.line() for c in self.failures], "warnings": [c.line() for c in self.warnings]}

    def to_dict(self) -> dict[str, Any]:
        return {"candidate": self.candidate_id, "baseline": self.baseline_id, "baseline_stage": self.baseline_stage,
                "passed": self.passed, "thresholds": self.thresholds, "checks": [asdict(c) for c in self.checks]}

    def frame(self) -> Any:
        """The checks as a DataFrame: kind, subject, status, candidate, baseline, detail, value, limit."""
        import pandas as pd  # only when a frame is asked for

        return pd.DataFrame([asdict(c) for c in self.checks],
                            columns=["kind", "subject", "status", "candidate", "baseline", "detail", "value", "limit"])

    def _heading(self) -> str:
        stage = f", {self.baseline_stage}" if self.baseline_stage else ""
        return (f"validation of {self.candidate_id[:8]} ({self.candidate_name}) against "
                f"{self.baseline_id[:8]} ({self.baseline_name}{stage}): {self.verdict()}")

    def __str__(self) -> str:
        rows = [(c.status.upper(), c.kind, c.subject, c.candidate, c.baseline, c.detail) for c in self.checks]
        header = ("", "check", "subject", "candidate", "baseline", "detail")
        widths = [min(40, max(len(str(r[i])) for r in [header, *rows])) for i in range(5)]
        lines = [self._heading()]
        for row in [header, *rows]:
            cells = [_clip(str(v), w).ljust(w) for v, w in zip(row[:5], widths)]
            lines.append("  " + "  ".join(cells) + "  " + row[5])
        return "\n".join(line.rstrip() for line in lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = "#2e7d32" if self.passed else "#c62828"
        flagged = [c for c in self.checks if c.status != PASS]
        passed = [c for c in self.checks if c.status == PASS]
        parts = [f'<div class="jupyter-tracker-validation" style="border-left:3px solid {colour};padding:2px 8px">',
                 f'<b style="color:{colour}">{escape(self._heading())}</b>']
        if flagged:
            parts.append(_checks_table(flagged))
        if passed:
            parts.append(f"<details><summary>{len(passed)} passed checks</summary>{_checks_table(passed)}</details>")
        parts.append("</div>")
        return "".join(parts)


_STATUS_STYLE = {FAIL: "color:#c62828;font-weight:bold", WARN: "color:#ef6c00;font-weight:bold", PASS: "color:#2e7d32"}


def _checks_table(checks: list[Check]) -> str:
    head = "".join(f"<th style='text-align:left'>{h}</th>"
                   for h in ("", "check", "subject", "candidate", "baseline", "detail"))
    rows = []
    for c in checks:
        cells = [f"<td style='{_STATUS_STYLE[c.status]}'>{escape(c.status.upper())}</td>"]
        cells += [f"<td style='text-align:left'>{escape(v)}</td>"
                  for v in (c.kind, c.subject, c.candidate, c.baseline, c.detail)]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# ------------------------------------------------------------------ checks
def validate_runs(candidate: Run, baseline: Run, spec: ValidationSpec, baseline_stage: str | None = None
                  ) -> ValidationResult:
    """Check ``candidate`` against ``baseline``: status, metric rules, then each input's data.

    For example::

        validate_runs(get_run("9be0"), get_run("3f2a"), ValidationSpec.make({"acc": ">= baseline"})).passed
    """
    result = ValidationResult(candidate.run_id, candidate.name, baseline.run_id, baseline.name, baseline_stage,
                              thresholds=spec.thresholds)
    checks = result.checks
    checks.append(Check("status", "run", PASS if candidate.status == "finished" else FAIL, candidate.status,
                        baseline.status, "the run finished" if candidate.status == "finished"
                        else f"the run is {candidate.status}, not finished"))
    rules = spec.rules if spec.rules is not None else default_rules(candidate, baseline)
    checks.extend(_metric_check(rule, candidate, baseline) for rule in rules)
    checks.extend(_data_checks(candidate, baseline, spec))
    return result


def _metric_check(rule: Rule, candidate: Run, baseline: Run) -> Check:
    value = candidate.metrics.get(rule.metric)
    base = baseline.metrics.get(rule.metric)
    shown_value, shown_base = _figure(value), _figure(base)
    if value is None or math.isnan(value):
        why = "the candidate has no value" if value is None else "the candidate's value is NaN"
        return Check("metric", rule.metric, FAIL, shown_value, shown_base, f"{why}: cannot check {rule.text}")
    if rule.uses_baseline and (base is None or math.isnan(base)):
        why = "the baseline has no value" if base is None else "the baseline's value is NaN"
        return Check("metric", rule.metric, FAIL, shown_value, shown_base, f"{why}: cannot check {rule.text}",
                     value=value)
    limit = rule.limit(base)
    holds = rule.holds(value, limit)
    comparison = f"{format_value(value)} {rule.op} {format_value(limit)}" if holds else \
        f"{format_value(value)} is not {rule.op} {format_value(limit)}"
    return Check("metric", rule.metric, PASS if holds else FAIL, shown_value, shown_base,
                 f"{comparison} (rule {rule.text})", value=value, limit=limit)


def _data_checks(candidate: Run, baseline: Run, spec: ValidationSpec) -> list[Check]:
    checks: list[Check] = []
    base_inputs = {r.name: r for r in baseline.inputs}
    cand_inputs = {r.name: r for r in candidate.inputs}
    for name, ref in cand_inputs.items():
        other = base_inputs.get(name)
        if other is None:
            checks.append(Check("input", name, WARN, _short(ref), "-", "new input: the baseline did not read it"))
            continue
        if ref.fingerprint is None or other.fingerprint is None:
            missing = "candidate" if ref.fingerprint is None else "baseline"
            checks.append(Check("input", name, WARN, _short(ref), _short(other),
                                f"not fingerprinted in the {missing}: not checked"))
            continue
        same = ref.fingerprint.hash == other.fingerprint.hash
        if _is_eval_input(name, spec):
            checks.append(Check(
                "validation_data", name, PASS if same else WARN, _short(ref), _short(other),
                "same evaluation data" if same else
                "candidate and baseline were evaluated on different data: their metrics are not directly comparable",
            ))
        if same:
            checks.append(Check("data", name, PASS, _short(ref), _short(other), "identical content"))
            continue
        checks.extend(_compare_fingerprints(name, ref.fingerprint, other.fingerprint, spec.thresholds))
    for name, other in base_inputs.items():
        if name not in cand_inputs:
            checks.append(Check("input", name, WARN, "-", _short(other), "the candidate did not read this input"))
    return checks


def _is_eval_input(name: str, spec: ValidationSpec) -> bool:
    if spec.eval_inputs is not None:
        return name in spec.eval_inputs
    return EVAL_NAME.search(name) is not None


def _compare_fingerprints(name: str, new: Fingerprint, old: Fingerprint, thresholds: dict[str, float | None]
                          ) -> list[Check]:
    if new.kind != old.kind:
        return [Check("schema", name, FAIL, new.kind, old.kind, f"the input changed kind: {old.kind} -> {new.kind}")]
    if not new.columns or not old.columns:
        # ndarrays and files carry no per-column schema: compare what there is.
        if new.shape[1:] != old.shape[1:]:
            return [Check("schema", name, FAIL, _shape(new), _shape(old), "the shape changed beyond the row count")]
        return [Check("data", name, WARN, _shape(new), _shape(old),
                      f"content changed; a {new.kind} has no column statistics to check drift on")]
    checks = [_schema_check(name, new, old)]
    old_columns = {c.name: c for c in old.columns if c.name != INDEX_COLUMN}
    for column in new.columns:
        before = old_columns.get(column.name)
        if column.name == INDEX_COLUMN or before is None:
            continue
        subject = f"{name}.{column.name}"
        identical = column.hash == before.hash and column.dtype == before.dtype
        null_check = _null_rate_check(subject, column.stats, before.stats, thresholds["null_rate"], identical)
        if null_check is not None:
            checks.append(null_check)
        drift_check = _drift_check(subject, column.stats, before.stats, thresholds, identical)
        if drift_check is not None:
            checks.append(drift_check)
    return checks


def _schema_check(name: str, new: Fingerprint, old: Fingerprint) -> Check:
    new_types = {c.name: c.dtype for c in new.columns if c.name != INDEX_COLUMN}
    old_types = {c.name: c.dtype for c in old.columns if c.name != INDEX_COLUMN}
    added = [c for c in new_types if c not in old_types]
    removed = [c for c in old_types if c not in new_types]
    retyped = [f"{c} {old_types[c]} -> {new_types[c]}" for c in new_types
               if c in old_types and new_types[c] != old_types[c]]
    parts = [f"{label}: {', '.join(items)}" for label, items in
             (("removed", removed), ("retyped", retyped), ("added", added)) if items]
    status = FAIL if removed or retyped else WARN if added else PASS
    return Check("schema", name, status, f"{len(new_types)} columns", f"{len(old_types)} columns",
                 "; ".join(parts) if parts else "same columns and dtypes")


def _null_rate_check(subject: str, new: dict[str, Any], old: dict[str, Any], limit: float | None,
                     identical: bool) -> Check | None:
    if not new.get("count") or not old.get("count"):
        return None
    rate, before = new.get("nulls", 0) / new["count"], old.get("nulls", 0) / old["count"]
    increase = rate - before
    failed = not identical and limit is not None and increase > limit
    limit_text = "no limit" if limit is None else f"limit +{limit:.1%}"
    return Check("null_rate", subject, FAIL if failed else PASS, f"{rate:.1%}", f"{before:.1%}",
                 f"change {increase:+.1%} ({limit_text})", value=increase, limit=limit)


def _drift_check(subject: str, new: dict[str, Any], old: dict[str, Any], thresholds: dict[str, float | None],
                 identical: bool) -> Check | None:
    if not _has_histogram(new) or not _has_histogram(old):
        return None  # not numeric (or no values): schema and null rate are what can be checked
    psi, ks = (0.0, 0.0) if identical else drift_statistics(new, old)
    psi_limit, ks_limit = thresholds["psi"], thresholds["ks"]
    failed = (psi_limit is not None and psi > psi_limit) or (ks_limit is not None and ks > ks_limit)
    limits = ", ".join(f"{k} limit {v:g}" for k, v in (("PSI", psi_limit), ("KS", ks_limit)) if v is not None)
    return Check("drift", subject, FAIL if failed else PASS, _distribution(new), _distribution(old),
                 f"PSI {psi:.3f}, KS {ks:.3f}" + (f" ({limits})" if limits else ""), value=psi, limit=psi_limit)


# ------------------------------------------------------------------ drift from stored summaries
def drift_statistics(new: dict[str, Any], old: dict[str, Any]) -> tuple[float, float]:
    """PSI and KS statistic of a column's distribution against a baseline's, from stored histograms.

    Each histogram gives a piecewise-linear cumulative distribution (values spread evenly within a
    bin). PSI is taken over the baseline's bins plus two open bins below and above its range, so
    values the baseline never saw count; KS is the largest gap between the two distributions.

    For example::

        drift_statistics(stats_of(np.random.normal(2, 1, 1000)), stats_of(np.random.normal(0, 1, 1000)))[0] > 1
        True
    """
    old_edges, old_cdf = _cdf_points(old["histogram"])
    new_edges, new_cdf = _cdf_points(new["histogram"])
    expected = [0.0] + [b - a for a, b in zip(old_cdf, old_cdf[1:])] + [0.0]
    at_edges = [_interpolate(x, new_edges, new_cdf) for x in old_edges]
    actual = [at_edges[0]] + [b - a for a, b in zip(at_edges, at_edges[1:])] + [1.0 - at_edges[-1]]
    psi = 0.0
    for a, e in zip(actual, expected):
        a, e = max(a, PSI_FLOOR), max(e, PSI_FLOOR)
        psi += (a - e) * math.log(a / e)
    points = sorted(set(old_edges) | set(new_edges))
    ks = max(abs(_interpolate(x, new_edges, new_cdf) - _interpolate(x, old_edges, old_cdf)) for x in points)
    return psi, ks


def _cdf_points(histogram: dict[str, Any]) -> tuple[list[float], list[float]]:
    edges = [float(e) for e in histogram["edges"]]
    counts = [float(c) for c in histogram["counts"]]
    total = sum(counts)
    cdf, running = [0.0], 0.0
    for count in counts:
        running += count
        cdf.append(running / total)
    return edges, cdf


def _interpolate(x: float, xs: list[float], ys: list[float]) -> float:
    """The piecewise-linear function through (xs, ys) at x, flat beyond both ends (xs increasing)."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    low, high = 0, len(xs) - 1
    while high - low > 1:
        middle = (low + high) // 2
        if xs[middle] <= x:
            low = middle
        else:
            high = middle
    span = xs[high] - xs[low]
    return ys[low] if span <= 0 else ys[low] + (ys[high] - ys[low]) * (x - xs[low]) / span


def _has_histogram(stats: dict[str, Any]) -> bool:
    histogram = stats.get("histogram") or {}
    edges, counts = histogram.get("edges"), histogram.get("counts")
    return bool(edges and counts and sum(counts) > 0 and None not in edges and len(edges) == len(counts) + 1)


# ------------------------------------------------------------------ figures
def _figure(value: float | None) -> str:
    return "-" if value is None else format_value(value)


def _short(ref: DataRef) -> str:
    fp = ref.fingerprint
    if fp is None:
        return "not fingerprinted"
    return f"{fp.hash[:8]} {_shape(fp)}"


def _shape(fp: Fingerprint) -> str:
    return "x".join(str(n) for n in fp.shape)


def _distribution(stats: dict[str, Any]) -> str:
    mean, std = stats.get("mean"), stats.get("std")
    if mean is None:
        return "-"
    return f"mean {mean:.4g}" + ("" if std is None else f" sd {std:.4g}")
