"""Seeds: every seeding call is seen, wherever it was made, and a draw from a really never-seeded
global generator is flagged.

The seeding functions of ``random``, ``numpy.random`` and ``torch`` are wrapped for the whole
kernel from ``%load_ext`` on, numpy's and torch's as soon as they are imported. What
ran before a wrapper was in place (cells before ``%load_ext``, the cell that imported numpy and
seeded it at once) is read from the kernel's execution history, so a seed set in a setup cell
counts wherever it was set (issue 10). For each global generator the hooks keep the seed in
effect and the cell that set it; every run records them (from its start).

``numpy.random.RandomState`` is replaced only while a tracked cell runs, by a stand-in that
builds real RandomState objects and passes ``isinstance`` checks, so scikit-learn and pickles
never notice. numpy and torch are only touched once the user has imported them.
"""

from __future__ import annotations

import ast
import random
import re
import sys
from typing import Any, Iterable

from ..records import Seed
from .imports import CellWatcher, after_import

GENERATORS = ("python", "numpy", "torch")

# The functions that set (or restore) a global generator's state: module, attribute, generator, source.
_SEEDERS = (
    ("random", "seed", "python", "random.seed"),
    ("random", "setstate", "python", "random.setstate"),
    ("numpy.random", "seed", "numpy", "numpy.random.seed"),
    ("numpy.random", "set_state", "numpy", "numpy.random.set_state"),
    ("numpy.random", "default_rng", None, "numpy.random.default_rng"),
    ("torch", "manual_seed", "torch", "torch.manual_seed"),
    ("torch", "seed", "torch", "torch.seed"),
    ("torch", "set_rng_state", "torch", "torch.set_rng_state"),
)
_LIBRARY = {"python": "random", "numpy": "numpy", "torch": "torch"}
_TRACK_SEED = re.compile(r"^\s*%track\s+seed\s+(\S+)", re.MULTILINE)


class SeedHooks(CellWatcher):
    """Process-wide seed interception (see ``seed_hooks()``); seeds go to every run being recorded."""

    def __init__(self) -> None:
        self.in_effect: dict[str, Seed] = {}  # generator -> the last seed that set it, and where
        self.pending: list[Seed] = []  # %track seed calls since the last run began: recorded with the next
        self.user_globals: dict[str, Any] | None = None
        self._sinks: list[list[Seed]] = []
        self._states: list[dict[str, Any]] = []
        self._wrapped: set[str] = set()  # generators whose functions are wrapped
        self._wrapped_at_cell_start: set[str] = set()
        self._saved_random_state: Any = None
        self._cell_source = ""

    @property
    def seeded(self) -> set[str]:
        """The global generators seeded in this kernel."""
        return set(self.in_effect)

    def record(self, source: str, value: Any, generator: str | None = None, location: str | None = None) -> None:
        plain = _plain(value)
        seed = Seed(source=source, value=plain, generator=generator)
        if generator:
            self.in_effect[generator] = Seed(source, plain, generator, location or self._where(source, plain))
        for sink in self._sinks:
            if all(s.key != seed.key for s in sink):
                sink.append(seed)

    def _where(self, source: str, value: Any) -> str:
        return f"{self.cell}: {source}({value!r})" if self.cell else f"{source}({value!r})"

    # ------------------------------------------------------------ installing
    def attach(self, shell: Any, history: Iterable[tuple[int, str]] = ()) -> None:
        """From ``%load_ext`` on: wrap what is imported, read the seeds set earlier, follow new imports.

        ``history`` is the kernel's executed cells so far as (execution count, raw source).
        """
        self._follow(shell)
        self.user_globals = shell.user_ns
        self.install()
        for library in ("numpy", "torch"):
            after_import(library, self._imported)
        for count, source in history:
            self.scan(source, f"In [{count}]", GENERATORS)

    def _imported(self, module: Any) -> None:
        self.install()

    def _pre_run_cell(self, info: Any) -> None:
        self._wrapped_at_cell_start = set(self._wrapped)
        self._cell_source = getattr(info, "raw_cell", None) or ""

    def _post_run_cell(self, result: Any) -> None:
        try:
            self.install()
            # A library imported by this cell was not wrapped while it ran: read its seeds from the source.
            missed = self._wrapped - self._wrapped_at_cell_start
            if missed:
                self.scan(self._cell_source, self.cell, missed)
        except Exception:  # noqa: BLE001  (a hook must never disturb the user's next cell)
            pass

    def install(self) -> None:
        """Wrap the seeding functions of the generators imported so far (idempotent, cheap)."""
        for generator, library in _LIBRARY.items():
            module = sys.modules.get(library)
            if generator in self._wrapped or module is None:
                continue
            seeders = [(name, attribute, seeds, source) for name, attribute, seeds, source in _SEEDERS
                       if name.partition(".")[0] == library]
            main_module, main_function = seeders[0][:2]
            if not hasattr(_resolve(main_module, {library: module}), main_function):
                continue  # half-imported (torch imports numpy before defining manual_seed): next time
            for module_name, attribute, seeds, source in seeders:
                target = sys.modules.get(module_name) or _resolve(module_name, {library: module})
                if target is not None and hasattr(target, attribute):
                    self._wrap(target, attribute, source, seeds)
            self._wrapped.add(generator)

    def _wrap(self, module: Any, attribute: str, source: str, generator: str | None) -> None:
        original = getattr(module, attribute)
        if getattr(original, "__jupyter_tracker_wraps__", None) is not None:
            return
        hooks = self
        restores = attribute in ("setstate", "set_state", "set_rng_state")

        def seeded(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if restores:
                hooks.record(source, "(a saved state)", generator)
            elif attribute == "seed" and generator == "torch":
                hooks.record(source, result, generator)  # torch.seed() draws a seed and returns it
            else:
                value = args[0] if args else kwargs.get("seed", kwargs.get("a"))
                if value is not None:
                    hooks.record(source, value, generator)
            return result

        seeded.__jupyter_tracker_wraps__ = original  # type: ignore[attr-defined]
        seeded.__wrapped__ = original  # type: ignore[attr-defined]
        seeded.__doc__ = original.__doc__
        seeded.__name__ = getattr(original, "__name__", attribute)
        setattr(module, attribute, seeded)

    # ------------------------------------------------------------- history
    def scan(self, source: str, cell: str, generators: Iterable[str], line_numbers: bool = False) -> None:
        """Seeds set by ``source`` (a cell that ran while some wrappers were not in place yet).

        ``cell`` names where it ran (``In [3]``, or a script's name, with ``line_numbers``).
        """
        wanted = set(generators)
        for match in _TRACK_SEED.finditer(source):
            value = _literal(match.group(1))
            for generator in wanted & {"python", "numpy", "torch"}:
                self.in_effect[generator] = Seed("%track seed", value, generator, f"{cell}: %track seed {value}")
        try:
            tree = ast.parse(_without_magics(source))
        except SyntaxError:
            return
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            found = self._seeder_of(node.func)
            if found is None or found[1] not in wanted:
                continue
            call_source, generator = found
            value = self._argument(node, call_source)
            if value is not None:
                text = ast.unparse(node)
                where = f"{cell} line {node.lineno}" if line_numbers else cell
                self.in_effect[generator] = Seed(call_source, value, generator, f"{where}: {text[:120]}")

    def _seeder_of(self, func: ast.expr) -> tuple[str, str] | None:
        """(source, generator) when ``func`` names a global seeding function, resolved in the user's namespace."""
        dotted = _dotted(func)
        if dotted is None:
            return None
        obj = _resolve(dotted, self.user_globals or {})
        if obj is not None:
            obj = getattr(obj, "__jupyter_tracker_wraps__", obj)
            for module_name, attribute, generator, source in _SEEDERS:
                module = sys.modules.get(module_name)
                if generator and module is not None:
                    real = getattr(module, attribute, None)
                    if obj is getattr(real, "__jupyter_tracker_wraps__", real):
                        return source, generator
            return None
        # The name is gone from the namespace (deleted, or a module not imported any more): go by the text.
        if dotted.endswith("random.seed"):
            return ("numpy.random.seed", "numpy") if dotted.count(".") >= 2 else ("random.seed", "python")
        if dotted.endswith("manual_seed"):
            return "torch.manual_seed", "torch"
        return None

    def _argument(self, call: ast.Call, source: str) -> Any:
        if source.endswith(("setstate", "set_state", "set_rng_state")):
            return "(a saved state)"
        node = call.args[0] if call.args else next(
            (k.value for k in call.keywords if k.arg in ("seed", "a")), None)
        if node is None:
            return None
        try:
            return _plain(ast.literal_eval(node))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        if isinstance(node, ast.Name) and self.user_globals is not None and node.id in self.user_globals:
            value = _plain(self.user_globals[node.id])
            if isinstance(value, (int, str)):
                return value
        return ast.unparse(node)

    # ------------------------------------------------------------- per cell
    def begin(self, sink: list[Seed], user_globals: dict[str, Any]) -> None:
        """Start sending seeds to ``sink`` (a run's list); runs may nest."""
        self.install()
        sink.extend(s for s in self.pending if s not in sink)
        self.pending = []
        # The seed in effect for each global generator seeded so far, and where it was set (issue 10).
        sink.extend(s for s in self.in_effect.values() if not _covered(s, sink))
        self._sinks.append(sink)
        self._states.append(self._global_states())
        self.user_globals = user_globals
        numpy = sys.modules.get("numpy")
        if numpy is not None and hasattr(numpy, "random") and self._saved_random_state is None:
            self._saved_random_state = numpy.random.RandomState
            numpy.random.RandomState = _random_state_standin(self._saved_random_state, self)

    def end(self) -> list[str]:
        """Stop the innermost run's seed capture.

        Returns the warnings: one per global generator the cell drew from that was never seeded.
        """
        self._sinks.pop()
        before_states = self._states.pop()
        numpy = sys.modules.get("numpy")
        if not self._sinks and self._saved_random_state is not None and numpy is not None:
            numpy.random.RandomState = self._saved_random_state
            self._saved_random_state = None
        self.install()  # numpy or torch may have been imported meanwhile
        after = self._global_states()
        warnings = []
        for generator, state in after.items():
            before = before_states.get(generator)
            if before is None or before == state:
                continue  # not drawn from (or imported by this very cell)
            if generator not in self.in_effect:
                warnings.append(
                    f"the cell drew from the global {generator} random generator, which was never seeded in this"
                    f" kernel: results may not reproduce (use %track seed N)"
                )
        return warnings

    def _global_states(self) -> dict[str, Any]:
        states: dict[str, Any] = {"python": random.getstate()}
        numpy = sys.modules.get("numpy")
        if numpy is not None and hasattr(numpy, "random"):
            _, key, position, has_gauss, gauss = numpy.random.get_state()
            states["numpy"] = (key.tobytes(), position, has_gauss, gauss)
        torch = sys.modules.get("torch")
        if torch is not None and hasattr(torch, "get_rng_state"):
            states["torch"] = torch.get_rng_state().numpy().tobytes()
        return states

    def seed_all(self, value: int) -> list[str]:
        """``%track seed N``: seed python, numpy and torch (those imported) at once."""
        self.install()
        seeded = ["python"]
        _unwrapped(random.seed)(value)
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            _unwrapped(numpy.random.seed)(value)
            seeded.append("numpy")
        torch = sys.modules.get("torch")
        if torch is not None:
            _unwrapped(torch.manual_seed)(value)
            seeded.append("torch")
        location = f"{self.cell}: %track seed {value}" if self.cell else f"%track seed {value}"
        for generator in seeded:
            self.in_effect[generator] = Seed("%track seed", value, generator, location)
        seed = Seed("%track seed", value)
        if self._sinks:
            for sink in self._sinks:
                if seed not in sink:
                    sink.append(seed)
        elif seed not in self.pending:
            self.pending.append(seed)  # recorded with the next tracked cell
        return seeded


_HOOKS: SeedHooks | None = None


def seed_hooks() -> SeedHooks:
    """The process's one SeedHooks: the functions it wraps are process-wide too."""
    global _HOOKS
    if _HOOKS is None:
        _HOOKS = SeedHooks()
    return _HOOKS


def _random_state_standin(real: type, hooks: SeedHooks) -> type:
    """A stand-in for ``numpy.random.RandomState`` that records seeds and builds real instances."""

    class RandomStateMeta(type):
        def __call__(cls, seed: Any = None) -> Any:
            # Libraries build RandomStates by the hundred (one per tree of a forest): only the user's count.
            if seed is not None and sys._getframe(1).f_globals is hooks.user_globals:
                hooks.record("numpy.random.RandomState", seed)
            return real(seed)

        def __instancecheck__(cls, instance: Any) -> bool:
            return isinstance(instance, real)

        def __subclasscheck__(cls, subclass: type) -> bool:
            return issubclass(subclass, real)

    return RandomStateMeta("RandomState", (), {"__doc__": real.__doc__, "__module__": real.__module__})


def _covered(seed: Seed, sink: list[Seed]) -> bool:
    """Whether ``sink`` already says ``seed`` (a pending ``%track seed`` names no generator)."""
    return any((s.source, s.value) == (seed.source, seed.value) and s.generator in (None, seed.generator)
               for s in sink)


def _unwrapped(function: Any) -> Any:
    return getattr(function, "__jupyter_tracker_wraps__", function)


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return repr(value)


def _literal(text: str) -> Any:
    try:
        return _plain(ast.literal_eval(text))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _resolve(dotted: str, namespace: dict[str, Any]) -> Any:
    head, *rest = dotted.split(".")
    if head not in namespace:
        return None
    obj = namespace[head]
    for attribute in rest:
        obj = getattr(obj, attribute, None)
        if obj is None:
            return None
    return obj


def _without_magics(source: str) -> str:
    # Line magics, shell escapes and cell magics are not Python: blank them (keeping line numbers).
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        lines = lines[1:]
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def estimator_seeds(params: dict[str, Any]) -> list[Seed]:
    """The ``random_state`` values among an estimator's (prefixed, nested) non-default params."""
    return [
        Seed(source=key, value=value) for key, value in params.items()
        if key.rsplit(".", 1)[-1] == "random_state" and isinstance(value, int) and not isinstance(value, bool)
    ]
