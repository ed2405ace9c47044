"""Parameters of scikit-learn estimators: what the user changed from the defaults."""

from __future__ import annotations

import inspect
import math
import sys
from typing import Any

_PLAIN = (int, float, str, bool, type(None))


def is_estimator(obj: Any) -> bool:
    sklearn_base = sys.modules.get("sklearn.base")
    return sklearn_base is not None and isinstance(obj, sklearn_base.BaseEstimator) and not isinstance(obj, type)


def estimator_params(variable: str, estimator: Any) -> dict[str, Any]:
    """Non-default ``get_params()`` of an estimator and the estimators nested in it, prefixed by name.

    >>> estimator_params("clf", RandomForestClassifier(n_estimators=200))
    {'clf.n_estimators': 200}
    """
    found: dict[str, Any] = {}
    _collect(f"{variable}.", estimator, found, depth=0)
    return found


def _collect(prefix: str, estimator: Any, found: dict[str, Any], depth: int) -> None:
    if depth > 5:
        return
    defaults = _defaults(type(estimator))
    for key, value in estimator.get_params(deep=False).items():
        if is_estimator(value):
            _collect(f"{prefix}{key}.", value, found, depth + 1)
        elif _is_named_steps(value):
            for step_name, step in value:
                if is_estimator(step):
                    _collect(f"{prefix}{step_name}.", step, found, depth + 1)
        elif key not in defaults or not _equal(value, defaults[key]):
            found[prefix + key] = value if isinstance(value, _PLAIN) else repr(value)


def _defaults(cls: type) -> dict[str, Any]:
    try:
        signature = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return {}
    return {
        name: p.default for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _is_named_steps(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(item, tuple) and len(item) >= 2 and isinstance(item[0], str) for item in value
    )


def _equal(value: Any, default: Any) -> bool:
    if value is default:
        return True
    if isinstance(value, float) and isinstance(default, float) and math.isnan(value) and math.isnan(default):
        return True
    try:
        return bool(value == default) and type(value) is type(default)
    except Exception:  # arrays and other objects without a plain truth value
        return repr(value) == repr(default)
