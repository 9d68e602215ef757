"""What one render may cost: loop iterations, characters of output, seconds.

Any department may write a template, and a template is a program: two nested `range(2000)`
loops took 4.7 s, `{{ 'x' * 50000000 }}` built 50 MB before LINE's limits could refuse it.
The sandboxed environment here meters the work from inside, so it is refused while it is
being done, with the template line it was at:

- every `{% for %}` iterates through the `metered` filter (added to each loop when a
  template is parsed), and every call (a macro, a method) ticks the meter: one budget of
  steps, and the clock is checked as they go;
- `*`, `**` and `+` are intercepted so a string, list or number is never built over the
  output budget (checked before it is built);
- a filter or call given a width over the output budget (`center(50000000)`) is refused
  before it runs, and any value over the budget is refused as soon as it is produced;
- output is counted as it is generated (`PreparedTemplate.render` feeds each chunk to
  `Meter.output`), and the overflow is thrown into the template at the line producing it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any

from jinja2 import nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from broadcaster.errors import FeatureRefusal

if TYPE_CHECKING:
    from broadcaster.settings import LimitSettings

METERED_FILTER = "metered"
# The clock is read every this many steps: reading it costs ~50 ns, a step ~1 µs.
CLOCK_EVERY = 64
# `2 ** n` with n over this many bits is refused (a number is output as text anyway).
MAX_INT_BITS = 4096


class RenderBudgetExceeded(FeatureRefusal):
    """A render went over its budget; `str()` says which budget and its value in English,
    `code` and `params` (`limit`) word it for staff (broadcaster.catalog)."""

    default_code = "template.budget"


@dataclass(frozen=True)
class RenderBudget:
    """Per render: loop iterations and calls, characters of output, and seconds."""

    iterations: int = 10_000
    output_chars: int = 200_000
    seconds: float = 1.0
    # And what a broadcast may store: its template text and its parameters (JSON bytes).
    template_chars: int = 20_000
    parameters_bytes: int = 64_000

    @classmethod
    def from_limits(cls, limits: LimitSettings) -> RenderBudget:
        return cls(
            iterations=limits.render_iterations,
            output_chars=limits.render_output_chars,
            seconds=limits.render_seconds,
            template_chars=limits.template_chars,
            parameters_bytes=limits.parameters_bytes,
        )


class Meter:
    """The running cost of one render (or of one template's trial renders, for time)."""

    def __init__(self, budget: RenderBudget, deadline: float | None = None) -> None:
        self.budget = budget
        self.deadline = deadline if deadline is not None else time.monotonic() + budget.seconds
        self.steps = 0
        self.chars = 0

    def step(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > self.budget.iterations:
            raise RenderBudgetExceeded(
                f"more than {self.budget.iterations} loop iterations and calls "
                "(limits.render_iterations)",
                "template.budget_iterations",
                limit=self.budget.iterations,
            )
        if self.steps % CLOCK_EVERY == 0:
            self.check_clock()

    def check_clock(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderBudgetExceeded(
                f"rendering took more than {self.budget.seconds:g} s (limits.render_seconds)",
                "template.budget_seconds",
                limit=f"{self.budget.seconds:g}",
            )

    def size(self, length: int) -> None:
        """Refuse a value of `length` characters (or items) before or after it is built."""
        if length > self.budget.output_chars:
            raise self._too_long()

    def output(self, length: int) -> None:
        self.chars += length
        if self.chars > self.budget.output_chars:
            raise self._too_long()
        self.check_clock()

    def _too_long(self) -> RenderBudgetExceeded:
        return RenderBudgetExceeded(
            f"the output would be over {self.budget.output_chars} characters "
            "(limits.render_output_chars)",
            "template.budget_output",
            limit=self.budget.output_chars,
        )


_current: ContextVar[Meter | None] = ContextVar("render_meter", default=None)


@contextmanager
def metering(budget: RenderBudget, *, share_clock: bool = False) -> Iterator[Meter]:
    """Meter the renders in this block. `share_clock`: keep the deadline of an enclosing
    meter (a template's trial renders share one time budget; each has its own steps)."""
    outer = _current.get()
    deadline = outer.deadline if share_clock and outer is not None else None
    meter = Meter(budget, deadline)
    token = _current.set(meter)
    try:
        yield meter
    finally:
        _current.reset(token)


def _meter() -> Meter | None:
    return _current.get()


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 0


def _check_result(value: Any, meter: Meter | None) -> Any:
    if meter is not None:
        meter.size(_length(value))
    return value


def _check_widths(args: Iterable[Any], meter: Meter | None) -> None:
    """A filter or method given a number over the output budget would build that much."""
    if meter is None:
        return
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool):
            meter.size(arg)


def _huge_power(left: Any, right: Any) -> bool:
    if not (isinstance(left, int) and isinstance(right, int)):
        return False
    return right > 0 and abs(left) > 1 and right * abs(left).bit_length() > MAX_INT_BITS


def metered(iterable: Any) -> Iterator[Any]:
    """Each item of a `{% for %}` loop is one step."""
    meter = _meter()
    for item in iterable:
        if meter is not None:
            meter.step()
        yield item


def _guard_filter(function: Callable[..., Any], budget: RenderBudget) -> Callable[..., Any]:
    # The value filtered comes first, after the context for filters that take it.
    skip = 2 if hasattr(function, "jinja_pass_arg") else 1

    @wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        # Outside a render too: Jinja folds a filter of constants when it compiles.
        meter = _meter() or Meter(budget)
        _check_widths([*args[skip:], *kwargs.values()], meter)
        return _check_result(function(*args, **kwargs), meter)

    return guarded


class BudgetedEnvironment(ImmutableSandboxedEnvironment):
    """The service's sandbox, with every render's work metered (see the module doc)."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, budget: RenderBudget, **options: Any) -> None:
        super().__init__(**options)
        for name, function in list(self.filters.items()):
            # Filters that pass the context/environment first are marked; keep the marks.
            guarded = _guard_filter(function, budget)
            for mark in ("jinja_pass_arg",):
                if hasattr(function, mark):
                    setattr(guarded, mark, getattr(function, mark))
            self.filters[name] = guarded
        self.filters[METERED_FILTER] = metered

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Jinja compiles `{% for %}` into a plain Python loop with no hook; routing each
        # loop's iterable through `metered` makes every iteration count.
        ast = super()._parse(source, name, filename)
        for loop in ast.find_all(nodes.For):
            loop.iter = nodes.Filter(
                loop.iter, METERED_FILTER, [], [], None, None, lineno=loop.lineno
            )
        return ast

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        meter = _meter()
        if meter is not None:
            if operator == "*":
                if isinstance(left, int) and _length(right):
                    meter.size(left * _length(right))
                elif isinstance(right, int) and _length(left):
                    meter.size(right * _length(left))
            elif operator == "+":
                meter.size(_length(left) + _length(right))
            elif operator == "**" and _huge_power(left, right):
                raise RenderBudgetExceeded(
                    f"{left} ** {right} is too large a number", "template.budget_power"
                )
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        meter = _meter()
        if meter is not None:
            meter.step()
            _check_widths([*args, *kwargs.values()], meter)
        return _check_result(super().call(__context, __obj, *args, **kwargs), meter)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # A namespace attribute doubled in a loop (`ns.s = ns.s ~ ns.s`) is caught here.
        return _check_result(super().getattr(obj, attribute), _meter())


def render_metered(chunks: Iterator[str], meter: Meter) -> str:
    """Join a template's generated output, throwing an overflow into the template so the
    error's traceback carries the line that produced it."""
    out: list[str] = []
    generator = chunks
    for chunk in generator:
        try:
            meter.output(len(chunk))
        except RenderBudgetExceeded as exc:
            throw = getattr(generator, "throw", None)
            if throw is None:
                raise
            throw(exc)
            raise
        out.append(chunk)
    return "".join(out)
