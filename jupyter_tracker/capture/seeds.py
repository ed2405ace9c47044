"""Seeds: every seeding call is seen, and a draw from a never-seeded global generator is flagged.

The seeding functions of ``random``, ``numpy.random`` and ``torch`` are wrapped for the whole
kernel (a seed set in an untracked cell still counts as seeded); ``numpy.random.RandomState``
is replaced only while a tracked cell runs, by a stand-in that builds real RandomState
objects and passes ``isinstance`` checks, so scikit-learn and pickles never notice.
numpy and torch are only touched once the user has imported them.
"""

from __future__ import annotations

import random
import sys
from typing import Any

from ..records import Seed


class SeedHooks:
    """Process-wide seed interception (see ``seed_hooks()``); seeds go to every run being recorded."""

    def __init__(self) -> None:
        self.seeded: set[str] = set()  # generators seeded in this process: "python", "numpy", "torch"
        self.user_globals: dict[str, Any] | None = None
        self._sinks: list[list[Seed]] = []
        self._states: list[dict[str, Any]] = []
        self._wrapped: set[str] = set()
        self._saved_random_state: Any = None

    def record(self, source: str, value: Any, generator: str | None = None) -> None:
        if generator:
            self.seeded.add(generator)
        seed = Seed(source=source, value=_plain(value))
        for sink in self._sinks:
            if seed not in sink:
                sink.append(seed)

    # ------------------------------------------------------------ installing
    def install(self) -> None:
        """Wrap the seeding functions of the generators imported so far (idempotent, cheap)."""
        if "python" not in self._wrapped:
            self._wrap(random, "seed", "random.seed", "python")
            self._wrapped.add("python")
        numpy = sys.modules.get("numpy")
        if numpy is not None and "numpy" not in self._wrapped and hasattr(numpy, "random"):
            self._wrap(numpy.random, "seed", "numpy.random.seed", "numpy")
            self._wrap(numpy.random, "default_rng", "numpy.random.default_rng", None)
            self._wrapped.add("numpy")
        torch = sys.modules.get("torch")
        if torch is not None and "torch" not in self._wrapped and hasattr(torch, "manual_seed"):
            self._wrap(torch, "manual_seed", "torch.manual_seed", "torch")
            self._wrapped.add("torch")

    def _wrap(self, module: Any, attribute: str, source: str, generator: str | None) -> None:
        original = getattr(module, attribute)
        if getattr(original, "__jupyter_tracker_wraps__", None) is not None:
            return
        hooks = self

        def seeded(*args: Any, **kwargs: Any) -> Any:
            value = args[0] if args else kwargs.get("seed", kwargs.get("a"))
            if value is not None:
                hooks.record(source, value, generator)
            return original(*args, **kwargs)

        seeded.__jupyter_tracker_wraps__ = original  # type: ignore[attr-defined]
        seeded.__wrapped__ = original  # type: ignore[attr-defined]
        seeded.__doc__ = original.__doc__
        seeded.__name__ = getattr(original, "__name__", attribute)
        setattr(module, attribute, seeded)

    # ------------------------------------------------------------- per cell
    def begin(self, sink: list[Seed], user_globals: dict[str, Any]) -> None:
        """Start sending seeds to ``sink`` (a run's list); runs may nest."""
        self.install()
        self._sinks.append(sink)
        self._states.append(self._global_states())
        self.user_globals = user_globals
        numpy = sys.modules.get("numpy")
        if numpy is not None and hasattr(numpy, "random") and self._saved_random_state is None:
            self._saved_random_state = numpy.random.RandomState
            numpy.random.RandomState = _random_state_standin(self._saved_random_state, self)

    def end(self) -> list[str]:
        """Stop the innermost run's seed capture; warn of draws from never-seeded global generators."""
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
            if before is not None and before != state and generator not in self.seeded:
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
        random.seed(value)
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            numpy.random.seed(value)
            seeded.append("numpy")
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.manual_seed(value)
            seeded.append("torch")
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


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return repr(value)


def estimator_seeds(params: dict[str, Any]) -> list[Seed]:
    """The ``random_state`` values among an estimator's (prefixed, nested) non-default params."""
    return [
        Seed(source=key, value=value) for key, value in params.items()
        if key.rsplit(".", 1)[-1] == "random_state" and isinstance(value, int) and not isinstance(value, bool)
    ]
