"""Parameters: what the user changed from an estimator's defaults, and how any value is recorded.

A param that is not a literal is recorded as stable, readable text that is equal in every
execution (issue 10): a function by ``module.qualname``, an estimator or CV splitter by its
class and non-default params, anything else by its repr with memory addresses removed. A
``<function f at 0x7f...>`` param made every repeat of a deterministic notebook DIFFER.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import sys
import types
from typing import Any

_PLAIN = (int, float, str, bool, type(None))
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|0x[0-9a-fA-F]{6,}")
_MAX_DEPTH = 6


def stable_value(value: Any, _depth: int = 0) -> Any:
    """``value`` as a param: JSON literals stay as they are, anything else becomes stable text.

    >>> stable_value({"k": [1, 2.5, None]})
    {'k': [1, 2.5, None]}
    >>> stable_value(len)
    'builtins.len'
    >>> stable_value(lambda x: x)
    'jupyter_tracker.capture.params.<lambda>'
    >>> class Thing: pass
    >>> stable_value(Thing()).startswith("<jupyter_tracker.capture.params.Thing object")
    True
    >>> " at 0x" in stable_value(Thing())
    False
    """
    if isinstance(value, _PLAIN):
        return value
    if _depth > _MAX_DEPTH:
        return _without_addresses(repr(value))
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0 and hasattr(value, "dtype"):
        return stable_value(value.item(), _depth + 1)  # numpy scalars
    if isinstance(value, (list, tuple)):
        return [stable_value(v, _depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): stable_value(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, functools.partial):
        arguments = [stable_text(a, _depth) for a in value.args]
        arguments += [f"{k}={stable_text(v, _depth)}" for k, v in value.keywords.items()]
        return f"functools.partial({', '.join([stable_text(value.func, _depth), *arguments])})"
    qualified = _qualified_name(value)
    if qualified is not None:
        return qualified
    if _has_init_params(value):
        return _constructor_text(value, _depth)
    return _without_addresses(repr(value))


def stable_text(value: Any, _depth: int = 0) -> str:
    """Like ``stable_value``, always as text: how a value reads inside another value's text."""
    if isinstance(value, _PLAIN) or _depth > _MAX_DEPTH:
        return repr(value) if isinstance(value, _PLAIN) else _without_addresses(repr(value))
    if isinstance(value, list):
        return "[" + ", ".join(stable_text(v, _depth + 1) for v in value) + "]"
    if isinstance(value, tuple):
        items = [stable_text(v, _depth + 1) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{stable_text(k, _depth + 1)}: {stable_text(v, _depth + 1)}"
                               for k, v in value.items()) + "}"
    converted = stable_value(value, _depth + 1)
    return converted if isinstance(converted, str) else stable_text(converted, _depth + 1)


def _qualified_name(value: Any) -> str | None:
    """``module.qualname`` of functions, lambdas, builtins, ufuncs, methods and classes."""
    if isinstance(value, types.MethodType):
        owner = _qualified_name(type(value.__self__)) if not isinstance(value.__self__, type) else None
        owner = owner or _qualified_name(value.__self__)
        return f"{owner}.{value.__func__.__name__}" if owner else None
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ufunc):
        return f"numpy.{value.__name__}"
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type)) or (
            callable(value) and hasattr(value, "__qualname__") and hasattr(value, "__module__")
            and not hasattr(value, "get_params")):
        module = getattr(value, "__module__", None) or ""
        qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
        if qualname is None:
            return None
        return f"{module}.{qualname}" if module else qualname
    return None


def _has_init_params(value: Any) -> bool:
    # Estimators (get_params), and scikit-learn's other parameter objects whose parameters are attributes:
    # CV splitters (KFold, ...), column selectors (make_column_selector).
    if hasattr(value, "get_params") and not isinstance(value, type):
        return True
    module = type(value).__module__ or ""
    names = _init_names(type(value))
    return module.startswith("sklearn.") and bool(names) and all(hasattr(value, n) for n in names)


def _constructor_text(value: Any, depth: int) -> str:
    """``Class(param=value, ...)`` with the params that differ from the class's defaults, sorted by name."""
    defaults = _defaults(type(value))
    try:
        params = value.get_params(deep=False) if hasattr(value, "get_params") else {
            name: getattr(value, name) for name in _init_names(type(value)) if hasattr(value, name)}
    except Exception:  # noqa: BLE001  (a broken get_params is still recorded, by its repr)
        return _without_addresses(repr(value))
    changed = [
        f"{name}={stable_text(v, depth)}" for name, v in sorted(params.items())
        if name not in defaults or not _equal(v, defaults[name])
    ]
    return f"{type(value).__name__}({', '.join(changed)})"


def _init_names(cls: type) -> list[str]:
    try:
        return [n for n in inspect.signature(cls.__init__).parameters if n != "self"]
    except (TypeError, ValueError):
        return []


def _without_addresses(text: str) -> str:
    return _ADDRESS.sub("", text)


def is_estimator(obj: Any) -> bool:
    sklearn_base = sys.modules.get("sklearn.base")
    return sklearn_base is not None and isinstance(obj, sklearn_base.BaseEstimator) and not isinstance(obj, type)


def estimator_params(variable: str, estimator: Any) -> dict[str, Any]:
    """Non-default ``get_params()`` of an estimator and the estimators nested in it, prefixed by name.

    For example::

        estimator_params("clf", RandomForestClassifier(n_estimators=200))
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
            for step_name, step, *columns in value:  # Pipeline steps are pairs; ColumnTransformer's are triples
                if is_estimator(step):
                    _collect(f"{prefix}{step_name}.", step, found, depth + 1)
                else:
                    found[f"{prefix}{step_name}"] = stable_value(step)  # "drop", "passthrough"
                if columns:
                    found[f"{prefix}{step_name}.columns"] = stable_value(columns[0])
        elif key not in defaults or not _equal(value, defaults[key]):
            found[prefix + key] = stable_value(value)


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
