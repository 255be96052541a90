"""The sandbox templates run in: no escapes, and a bound on what a template can build.

Jinja2's ``SandboxedEnvironment`` already refuses attribute walks such as
``__globals__`` or ``__subclasses__``. A message must also never exhaust memory or
time (``limits.py`` holds the bounds), so on top of it this environment:

- sizes the result of ``*``, ``+``, ``%``, ``**`` and ``~`` before building it, and
  every builtin filter and str/bytes/dict method that can grow its input
  (``guards.py``); list and dict literals are sized as they are built;
- counts every text a template writes, in macros, blocks and ``set`` blocks too;
- caps ``range`` at ``MAX_RANGE`` and every call and loop step against the render's
  step budget and deadline (so nested loops and recursive macros stop early);
- refuses ``recursive`` loops; leaves out ``lipsum``, ``namespace`` (the only way to
  accumulate across loop iterations) and ``pprint``, and forbids changing lists and
  dicts (``ImmutableSandboxedEnvironment``);
- turns autoescape on inside a block named ``html`` only, so a subject or a plain
  text part never shows ``&amp;``; a macro escapes what it prints when it is called from
  there (a shared macro imported "with context" would otherwise hand the html part its
  values unescaped, marked safe).

The renderer caps the rendered message at NOTIFIER_RENDER_MAX_OUTPUT.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from functools import update_wrapper
from string import Formatter
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, TemplateSyntaxError, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, Macro, markup_join, str_join
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from jinja2.utils import pass_eval_context
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from notifier.templates.guards import (
    bounded_sum,
    check_method,
    checked,
    guard_filter,
    materialize,
)
from notifier.templates.render_limits import MAX_INT_BITS, MAX_RANGE, Budget, LimitExceeded, current
from notifier.templates.sizes import field_size, printf_size

_DROPPED_FILTERS = ("pprint",)  # output grows with nesting depth; no use in a message
_DICT_ATTRIBUTES = frozenset(dir(dict))


def _bounded_range(*args: int) -> range:
    rng = range(*args)
    try:
        size = len(rng)
    except OverflowError:
        size = MAX_RANGE + 1
    if size > MAX_RANGE:
        raise LimitExceeded(f"template exceeds the limit of {MAX_RANGE} items in one range()")
    return rng


def _steps(iterable: Iterable[object]) -> Iterator[object]:
    return _stepping(current(), iterable)


def _stepping(budget: Budget, iterable: Iterable[object]) -> Iterator[object]:
    for item in iterable:
        budget.spend()
        yield item


def _written(value: Any, size: int = 0) -> Any:
    # Counts the static text of one output statement (``_Bounding`` passes its length) and
    # hands back the first value written there untouched, for _finalize to count. A
    # template may name this filter too: it can only ever add to what it has written.
    current().write(size if isinstance(size, int) and size > 0 else 0)
    return value


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    budget = current()
    if isinstance(value, str):  # nearly every value written: counted at once
        budget.write(len(value))
        return value
    if isinstance(value, Iterator):
        # Written out as the list it yields, never as '<generator object at 0x...>'; a
        # filter that fails only when iterated ([1, 2] | slice(0)) fails here, cleanly.
        value = materialize(budget, value, "output")
    budget.write(budget.size(value))
    return value


@pass_eval_context
def _concat(eval_ctx: EvalContext, *values: Any) -> str:
    budget = current()
    budget.tick()
    budget.value(sum(budget.size(v) for v in values), "~")
    join = markup_join if eval_ctx.autoescape or eval_ctx.volatile else str_join
    return checked(budget, join(values), "~")  # type: ignore[no-any-return]  # a str


# Whether the block calling the running macro escapes (None outside any macro call): an
# imported macro runs in its own module's evaluation context, which never escapes.
_CALLER_ESCAPES: ContextVar[bool | None] = ContextVar("caller_escapes", default=None)


@pass_eval_context
def _autoescape_now(eval_ctx: EvalContext) -> bool:
    """Whether the caller escapes: a macro's body escapes as the block that calls it."""
    escapes = _CALLER_ESCAPES.get()
    return bool(eval_ctx.autoescape if escapes is None else escapes)


@pass_context
def _literal(context: Context, value: Any) -> Any:
    budget = current()
    budget.value(budget.size(value), "[...]")
    return value


_AUTOESCAPE_NOW = "_notifier_autoescape_now"  # a global no template name can clash with


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """A Jinja2 sandbox with StrictUndefined and bounds on size, time, loops and calls."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, loader: BaseLoader) -> None:
        super().__init__(
            loader=loader,
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=False,
            cache_size=-1,
            finalize=_finalize,
        )
        self.globals.pop("lipsum", None)
        self.globals.pop("namespace", None)
        self.globals["range"] = _bounded_range
        self.globals[_AUTOESCAPE_NOW] = _autoescape_now
        for name in _DROPPED_FILTERS:
            self.filters.pop(name, None)
        self.filters["sum"] = bounded_sum
        for name, func in list(self.filters.items()):
            self.filters[name] = guard_filter(name, func)
        self.filters.update(
            {"_steps": _steps, "_written": _written, "_concat": _concat, "_literal": _literal}
        )

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``obj.attribute`` as Jinja2's sandbox answers it, a context dict's key at once."""
        # Every variable is a plain dict, so ``customer.name`` first fails getattr() (an
        # exception per lookup) before Jinja2 tries the key. A dict's own attributes are
        # dict's, fixed: any other name can only be a key, or undefined.
        if type(obj) is dict and type(attribute) is str and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except (TypeError, LookupError):
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Apply ``operator`` unless its result would be too big to build."""
        budget = current()
        budget.tick()
        limit = budget.limits.max_value
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | bytes | list | tuple) and isinstance(n, int):
                    budget.value(budget.size(seq) * n, "*")
            if _is_int(left) and _is_int(right):
                _refuse_bits(left.bit_length() + right.bit_length(), "*")
        elif operator == "**" and _is_int(left) and _is_int(right):
            _refuse_bits(math.log2(max(abs(left), 2)) * abs(right), "**")
        elif operator == "+":
            sized = (str, bytes, list, tuple)
            if isinstance(left, sized) and isinstance(right, sized):
                budget.value(budget.size(left) + budget.size(right), "+")
        elif operator == "%" and isinstance(left, str | bytes):
            budget.value(printf_size(left, right, limit), "%")
        return checked(budget, super().call_binop(context, operator, left, right), operator)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``__obj`` from a template: a step, its size checked before and after."""
        budget = current()
        budget.spend()
        name = getattr(__obj, "__name__", "") or "call"
        owner = getattr(__obj, "__self__", None)
        if owner is not None:
            args = check_method(budget, owner, name, args, kwargs)
        if isinstance(__obj, Macro):
            token = _CALLER_ESCAPES.set(bool(__context.eval_ctx.autoescape))
            try:
                result = super().call(__context, __obj, *args, **kwargs)
            finally:
                _CALLER_ESCAPES.reset(token)
        else:
            result = super().call(__context, __obj, *args, **kwargs)
        return checked(budget, result, f"{name}()")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Sandbox ``str.format`` as Jinja2 does, sizing every field before it is written."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text: str = value.__self__
        is_map = value.__name__ == "format_map"
        markup = isinstance(text, Markup)

        def sized(*args: Any, **kwargs: Any) -> str:
            budget = current()
            budget.tick()
            formatter = _SizedFormatter(self, markup, budget.limits.max_value, len(text))
            if is_map:
                kwargs, args = (args[0] if args else {}), ()
            return type(text)(formatter.vformat(text, args, kwargs))

        return update_wrapper(sized, value)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            if loop.recursive:
                raise TemplateSyntaxError(
                    "recursive loops are not allowed in messages", loop.lineno, name, filename
                )
        tree = _Bounding().visit(tree)
        tree.set_environment(self)
        for macro in tree.find_all(nodes.Macro):
            now = nodes.Call(nodes.Name(_AUTOESCAPE_NOW, "load"), [], [], None, None)
            on = nodes.Keyword("autoescape", now, lineno=macro.lineno)
            macro.body = [nodes.ScopedEvalContextModifier([on], macro.body, lineno=macro.lineno)]
        for block in tree.find_all(nodes.Block):
            if block.name == "html":
                on = nodes.Keyword("autoescape", nodes.Const(True), lineno=block.lineno)
                block.body = [
                    nodes.ScopedEvalContextModifier([on], block.body, lineno=block.lineno)
                ]
        return tree  # type: ignore[no-any-return]  # visit returns the Template it was given


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _refuse_bits(bits: float, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise LimitExceeded(
            f"template exceeds the limit of {MAX_INT_BITS} bits on one number ({what!r})"
        )


def _filter(node: nodes.Expr, name: str, *args: nodes.Expr) -> nodes.Filter:
    return nodes.Filter(node, name, list(args), [], None, None, lineno=node.lineno)


class _Bounding(NodeTransformer):
    """Rewrites a parsed template so that what it builds and writes passes the checks."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(node.iter, "_steps")  # type: ignore[arg-type]  # an expression
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        first, *rest = node.nodes
        return _filter(first, "_concat", *rest)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        self.generic_visit(node)
        return _filter(node, "_literal")

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        return _filter(node, "_literal")

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        return node if node.ctx != "load" else _filter(node, "_literal")

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        static = sum(len(n.data) for n in node.nodes if isinstance(n, nodes.TemplateData))
        if not static:
            return node
        size = nodes.Const(static, lineno=node.lineno)
        # The static text rides on the statement's first value, which _finalize counts
        # anyway: one call per statement, not two.
        for i, child in enumerate(node.nodes):
            if not isinstance(child, nodes.TemplateData):
                node.nodes[i] = _filter(child, "_written", size)
                return node
        node.nodes.insert(0, _filter(nodes.Const("", lineno=node.lineno), "_written", size))
        return node


class _SizedFormatter(Formatter):
    """Counts what ``str.format`` writes, field by field, before it writes it."""

    def __init__(self, env: BoundedSandbox, markup: bool, limit: int, literal: int) -> None:
        self._inner: SandboxedFormatter = (
            SandboxedEscapeFormatter(env, escape=Markup.escape)
            if markup
            else SandboxedFormatter(env)
        )
        self._limit = limit
        self._total = literal

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        return self._inner.get_field(field_name, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> Any:
        budget = current()
        budget.tick()
        self._total += field_size(value, format_spec, self._limit)
        budget.value(self._total, "format")
        return self._inner.format_field(value, format_spec)


__all__ = ["BoundedSandbox", "SecurityError"]
