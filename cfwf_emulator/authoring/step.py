"""The ``step`` object passed to ``run``: Cloudflare Python Workflows' step API.

``step.do`` works as the Python SDK's decorator factory (implicit dependencies by step name, or
the legacy ``depends=[...]`` list, chosen by compatibility date/flags exactly as on Cloudflare).
The JavaScript-style call form ``await step.do(name, [config], callback)`` fails as it does with
Cloudflare's SDK unless the emulator opts in to it (``Emulator(step_call_form=True)``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import weakref
from types import FunctionType
from typing import Any, Awaitable, Callable, Protocol

from ..compat import IMPLICIT_DEPENDENCIES_DATE, Compatibility
from ..errors import did_you_mean
from ..sdk import installed_sdk

__all__ = ["StepRunner", "WorkflowStep", "is_call_form"]


class StepRunner(Protocol):
    """What the engine provides to execute one step call of a run."""

    async def do(self, name: Any, config: Any, invoke: Callable[[Callable[[], Any]], Any]) -> Any:
        """Run (or replay) a ``step.do``; ``invoke(make_ctx)`` calls the user's callback."""
        ...

    async def sleep(self, name: Any, duration: Any) -> None:
        """Run (or replay) a ``step.sleep``."""
        ...

    async def sleep_until(self, name: Any, timestamp: Any) -> None:
        """Run (or replay) a ``step.sleep_until``."""
        ...

    async def wait_for_event(self, name: Any, event_type: Any, timeout: Any) -> Any:
        """Run (or replay) a ``step.wait_for_event``."""
        ...


class _CtxSlot:
    """Marks the parameter that receives the step context."""

    __slots__ = ()


_CTX = _CtxSlot()


class _UncheckedEntry:
    """A ``depends`` entry that is no decorated step, as workers-runtime-sdk before 1.8.6 keeps
    it: found out only when its turn to be resolved comes."""

    def __init__(self, param: str, entry: Any) -> None:
        self.param = param
        self.entry = entry

    def resolve(self) -> Any:
        """The entry itself if it is named ``ctx`` (the SDK takes it for the context), else the
        SDK's ``AttributeError``, followed by what is wrong."""
        if getattr(self.entry, "name", None) == "ctx":
            return self.entry
        raise AttributeError(
            f"'{type(self.entry).__name__}' object has no attribute '_step_name'\n"
            f"'depends' entry for parameter {self.param!r} is {_describe(self.entry)}, not a function "
            "decorated with step.do: list the functions @step.do(...) returned"
        )


def _signature_key(func: Callable[..., Any]) -> Any:
    """Closures re-created on every run share a code object; cache by it, not by the function."""
    code = getattr(func, "__code__", None)
    if code is not None and not hasattr(func, "__self__") and not hasattr(func, "__wrapped__"):
        return code
    return None


def _takes_nothing(func: Callable[..., Any]) -> bool:
    """Whether ``func`` is a plain function without parameters (read off its code: no signature).

    Remembered by code object, as :func:`_parameter_names` is: a step's function is made anew on
    every loop turn and run, from the same code (reading a new function's ``__dict__`` would make
    one, which it keeps).
    """
    if type(func) is not FunctionType:
        return False
    code = func.__code__
    known = _NO_PARAMETERS.get(code)
    if known is None:
        known = not (code.co_argcount or code.co_kwonlyargcount or code.co_flags & _VAR_ARGS or func.__dict__)
        if len(_NO_PARAMETERS) >= _NO_PARAMETERS_KEPT:  # code made by exec() again and again: start over
            _NO_PARAMETERS.clear()
        _NO_PARAMETERS[code] = known
    return known


def _parameter_names(func: Callable[..., Any]) -> tuple[str, ...]:
    if _takes_nothing(func):  # the common case: no signature needed
        return ()
    key = _signature_key(func)
    if key is None:
        return tuple(inspect.signature(func).parameters)
    cached = _NAMES.get(key)
    if cached is None:
        cached = _NAMES[key] = tuple(inspect.signature(func).parameters)
    return cached


def _wants_ctx(func: Callable[..., Any]) -> bool:
    key = _signature_key(func)
    cached = _WANTS_CTX.get(key) if key is not None else None
    if cached is not None:
        return cached
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    wants = any(
        p.name == "ctx"
        or p.kind is p.VAR_POSITIONAL
        or (p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty)
        for p in params
    )
    if key is not None:
        _WANTS_CTX[key] = wants
    return wants


_VAR_ARGS = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS
_NAMES: "weakref.WeakKeyDictionary[Any, tuple[str, ...]]" = weakref.WeakKeyDictionary()
_WANTS_CTX: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()
_NO_PARAMETERS: dict[object, bool] = {}  # (a dict: a WeakKeyDictionary's get is Python code)
_NO_PARAMETERS_KEPT = 4096


def _callback_invoker(callback: Callable[..., Any]) -> Callable[[Callable[[], Any]], Any]:
    """``invoke(make_ctx)``: call ``callback`` with the step context only if it takes one."""
    if _wants_ctx(callback):
        return lambda make_ctx: callback(make_ctx())
    return lambda _make_ctx: callback()


def is_call_form(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether ``step.do(*args, **kwargs)`` is the JavaScript-style call form: ``(name, callback)``
    or ``(name, config-or-None, callback)``, with no keyword arguments."""
    if kwargs:
        return False
    if len(args) == 2:
        return callable(args[1])
    return len(args) == 3 and (args[1] is None or isinstance(args[1], dict)) and callable(args[2])


class _WorkflowStepWrapper:
    """The signatures of ``step.do`` in Cloudflare's Python SDK (``workers/entrypoints.py``).

    Binding arguments to these methods makes Python raise exactly the ``TypeError`` text users
    see on Cloudflare, which the emulator's messages then start with.
    """

    def _do_implicit(
        self, name: Any = None, *, concurrent: Any = False, config: Any = None
    ) -> tuple[Any, Any, Any, Any]:
        return name, None, concurrent, config

    def _do_legacy(
        self, name: Any, depends: Any = None, concurrent: Any = False, config: Any = None
    ) -> tuple[Any, Any, Any, Any]:
        return name, depends, concurrent, config


_SDK_STEP = _WorkflowStepWrapper()

#: What CPython 3.12 and 3.13 (Pyodide's, on Cloudflare) raise for ``await`` on a function.
_AWAIT_FUNCTION = "object function can't be used in 'await' expression"


class _LegacyDecorator:
    """What the legacy SDK's ``step.do(name, callback)`` returns: a decorator (the callback was
    taken as ``depends``), which fails with the SDK's ``TypeError`` when awaited."""

    __slots__ = ("_declare", "_hint")

    def __init__(self, declare: Callable[[], Callable[[Callable[..., Any]], Any]], hint: str) -> None:
        self._declare = declare
        self._hint = hint

    def __call__(self, func: Callable[..., Any]) -> Any:
        return self._declare()(func)

    def __await__(self) -> Any:
        raise TypeError(f"{_AWAIT_FUNCTION}\n{self._hint}")


def _show(value: Any) -> str:
    """A short rendering of an argument for messages: functions by name, long reprs cut."""
    if callable(value) and hasattr(value, "__name__"):
        return f"<function {value.__name__}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(value: Any) -> str:
    """``list []``, ``int 42``, ``function cb``, ``None``."""
    if value is None:
        return "None"
    if callable(value) and hasattr(value, "__name__"):
        return f"function {value.__name__}"
    return f"{type(value).__name__} {_show(value)}"


_NO_ROLLBACK_API = (
    "step.{name} is not in Cloudflare's Python Workflows SDK: a saga API (step.with_rollback, "
    "@fn.undo, step.rollback_all) was drafted in workerd and reverted, though one docs page still "
    "shows it, so on Cloudflare this line raises AttributeError too. Compensate by hand: wrap the "
    "steps in try/except and, in the except block, await steps that undo the ones that succeeded, "
    "then re-raise"
)


# What a ``@step.do`` wrapper needs, in one list (one closure cell instead of seven, and a list
# is built without a Python-level __init__): indexes into it.
_OWNER, _FUNC, _DEPENDS, _NAME, _CONCURRENT, _CONFIG, _KEY, _PLAIN = range(8)


def _invoker(func: Callable[..., Any], results: list[Any]) -> Callable[[Callable[[], Any]], Any]:
    """``invoke(make_ctx)`` for a declared step: ``func`` called with its dependencies' results,
    the step context (made only if asked for) where ``ctx`` goes."""
    if not results:
        return lambda _make_ctx: func()

    def invoke(make_ctx: Callable[[], Any]) -> Any:
        if _CTX in results:
            ctx = make_ctx()
            return func(*(ctx if value is _CTX else value for value in results))
        return func(*results)

    return invoke


def _settle(waiters: list["asyncio.Future[Any]"], exc: BaseException) -> None:
    """Fail the steps waiting for a step that failed (or was cancelled) with what it raised."""
    for waiter in waiters:
        if waiter.done():
            continue
        if isinstance(exc, asyncio.CancelledError):
            waiter.cancel()
        else:
            waiter.set_exception(exc)


class _NotInSdk:
    """A saga method of the docs that Cloudflare's SDK lacks: reading it raises the
    ``AttributeError`` Cloudflare raises, saying why. (A descriptor, not ``__getattr__``, which
    would make every attribute read of the step object slow.)"""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        raise AttributeError(_NO_ROLLBACK_API.format(name=self.name), name=self.name, obj=instance)


class WorkflowStep:
    """The ``step`` argument of ``run``; a new one is made for every run of an instance."""

    with_rollback = _NotInSdk()
    rollback_all = _NotInSdk()
    withRollback = _NotInSdk()
    rollbackAll = _NotInSdk()

    def __init__(
        self,
        runner: StepRunner,
        *,
        implicit_dependencies: bool,
        compatibility: Compatibility | None = None,
        call_form: bool = False,
    ) -> None:
        self._runner = runner
        self._implicit = implicit_dependencies
        self._call_form = call_form
        self._compatibility = compatibility
        self._function_names: dict[str, str] = {}
        self._memoized: dict[Any, Any] = {}
        self._in_flight: dict[Any, list[asyncio.Future[Any]]] = {}
        self.step_closures: dict[str, Callable[[], Awaitable[Any]]] = {}
        #: Memoise dependencies per decorated function, or (workers-runtime-sdk before 1.8.6)
        #: per step name, so two functions of one name share a result.
        self._per_function = installed_sdk().memoise_per_function
        self._checks_depends = installed_sdk().checks_depends

    # -- step.do ---------------------------------------------------------------------------

    def do(self, *args: Any, **kwargs: Any) -> Any:
        """Declare a step (decorator form), or run one in the call form when opted in.

        Decorator, implicit dependencies (compatibility date on/after 2026-02-25)::

            @step.do("name", concurrent=False, config=None)   # name defaults to func.__name__
            async def my_step(other_step, ctx): ...
            result = await my_step()

        Decorator, legacy: ``@step.do("name", depends=[a, b], concurrent=False, config=None)``.
        Call form, only with ``Emulator(step_call_form=True)``: ``await step.do("name", callback)``
        or ``await step.do("name", config, callback)`` where ``callback`` is sync or async and
        takes no argument or one (the step context); otherwise it fails as with Cloudflare's SDK.
        Wrong arguments raise ``TypeError`` starting with what Cloudflare's Python SDK says, then
        which argument is wrong and how to write the step.
        """
        if not kwargs and len(args) == 1 and type(args[0]) is str:  # @step.do("name"): every step's path
            return functools.partial(self._decorate, args[0], None, False, None)  # (as _decorator does)
        if is_call_form(args, kwargs):
            if self._call_form:
                name, config, callback = (args[0], None, args[1]) if len(args) == 2 else args
                return self._runner.do(name, config, _callback_invoker(callback))
            return self._refuse_call_form(args)
        return self._declare(args, kwargs)

    def _refuse_call_form(self, args: tuple[Any, ...]) -> Any:
        """Cloudflare's SDK on ``step.do(name, [config], callback)``, plus a line saying what to write."""
        name = args[0]
        shown = f'"{name}"' if isinstance(name, str) and not {'"', "\\"} & set(name) else _show(name)
        config = "" if len(args) == 2 or args[1] is None else ", config={...}"
        hint = (
            f"Cloudflare's Python SDK has no call form of step.do: write it as a decorator, "
            f"@step.do({shown}{config}) above a def or async def holding the callback's body, then "
            "await the decorated function (Emulator(step_call_form=True) accepts the call form, "
            "for tests ported from JavaScript)"
        )
        if not self._implicit:
            return _LegacyDecorator(lambda: self._declare(args, {}), hint)
        try:
            _SDK_STEP._do_implicit(*args)
        except TypeError as exc:
            raise TypeError(f"{exc}\n{hint}") from None
        raise AssertionError("unreachable: the SDK signature takes at most two positional arguments")

    def _declare(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The decorator form: check the arguments as Cloudflare's SDK binds them, then decorate."""
        signature = _SDK_STEP._do_implicit if self._implicit else _SDK_STEP._do_legacy
        try:
            name, depends, concurrent, config = signature(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{exc}: {self._explain(args, kwargs)}") from None
        if callable(name):
            usage = '@step.do() or @step.do("name")' if self._implicit else '@step.do("name")'
            raise TypeError(f"step.do must be called before decorating: write {usage}, not a bare @step.do")
        if not self._implicit and 2 <= len(args) <= 3 and (callable(args[-1]) or isinstance(args[1], dict)):
            raise TypeError(self._explain(args, kwargs))  # a call form with a wrong argument
        if depends is not None and not isinstance(depends, (list, tuple)):
            raise TypeError(
                f"step.do: depends must be a list of functions decorated with step.do, got "
                f"{_describe(depends)}. {self._usage()}"
            )
        # The SDK reads concurrent by truthiness; a callable, or a non-bool third positional
        # argument, is a call form step.do(name, config, callback) gone wrong.
        if callable(concurrent) or (len(args) == 3 and not isinstance(concurrent, bool)):
            hint = f" ({self._explain(args, kwargs)})" if len(args) == 3 else f" {self._usage()}"
            raise TypeError(f"step.do: concurrent must be True or False, got {_describe(concurrent)}.{hint}")
        return self._decorator(name, depends, bool(concurrent), config)

    def _usage(self) -> str:
        if self._implicit:
            return (
                'Write the decorator form: @step.do("name", config={...}) above a def or async def, '
                "then await the decorated function"
            )
        return (
            'Write the decorator form: @step.do("name", depends=[...], config={...}) above a def or '
            "async def, then await the decorated function"
        )

    def _explain(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Which argument of a refused ``step.do(...)`` is wrong, what it must be, and the fix."""
        shown = ", ".join([*map(_show, args), *(f"{key}={_show(value)}" for key, value in kwargs.items())])
        allowed = ("name", "concurrent", "config") if self._implicit else ("name", "depends", "concurrent", "config")
        problems = []
        unknown = [key for key in kwargs if key not in allowed]
        if unknown:
            problems.append(
                f"unknown keyword argument(s) {', '.join(unknown)}; step.do takes {', '.join(allowed)}"
            )
            if "depends" in unknown:
                problems.append(self._no_depends())
        if len(args) > 3:
            problems.append(f"at most 3 positional arguments (name, config, callback) are allowed, got {len(args)}")
        elif len(args) >= 2:
            if kwargs:
                problems.append("the call form step.do(name, [config], callback) takes no keyword arguments")
            if len(args) == 3 and not (args[1] is None or isinstance(args[1], dict)):
                problems.append(f"config (argument 2) must be a dict or None, got {_describe(args[1])}")
            if not callable(args[-1]):
                problems.append(
                    f"callback (argument {len(args)}) must be callable (a function taking no argument "
                    f"or the step context), got {_describe(args[-1])}"
                )
            problems.append(
                "Cloudflare's Python SDK has no call form step.do(name, [config], callback), only the "
                "decorator (Emulator(step_call_form=True) accepts the call form, for tests ported from JavaScript)"
            )
        elif not args and "name" not in kwargs and not self._implicit:
            problems.append("under legacy dependencies every step needs a name: @step.do(\"name\")")
        return f"in step.do({shown}): {'; '.join(problems) or 'wrong arguments'}. {self._usage()}"

    def _no_depends(self) -> str:
        """Why ``depends=`` is refused here: which date or flag selected implicit dependencies."""
        compat = self._compatibility
        flag = "python_workflows_implicit_dependencies"
        if compat is not None and flag in compat.flags:
            why = f'the compatibility flag "{flag}" is set'
        elif compat is not None and compat.date is not None:
            why = f"the compatibility date {compat.date} is on or after {IMPLICIT_DEPENDENCIES_DATE}, which turns on {flag}"
        else:
            why = f"without a compatibility date the newest behaviour applies, where {flag} is on (from {IMPLICIT_DEPENDENCIES_DATE})"
        return (
            f"depends=[...] no longer exists: {why}, so a step's parameters named after earlier steps "
            "receive their results; name the parameters after the steps (and drop depends=), or keep "
            f"depends= with a compatibility date before {IMPLICIT_DEPENDENCIES_DATE} or the flag "
            '"no_python_workflows_implicit_dependencies"'
        )

    def _decorator(
        self, name: Any, depends: Any, concurrent: bool, config: Any
    ) -> Callable[[Callable[..., Any]], Callable[[], Awaitable[Any]]]:
        return functools.partial(self._decorate, name, depends, concurrent, config)  # cheaper than a closure

    def _decorate(
        self, name: Any, depends: Any, concurrent: bool, config: Any, func: Callable[..., Any]
    ) -> Callable[[], Awaitable[Any]]:
        """``@step.do(...)`` applied to ``func``: the wrapper that runs (or replays) the step."""
        if not callable(func):
            raise TypeError(f"@step.do(...) must decorate a function (def or async def), got {_describe(func)}")
        step_name = getattr(func, "__name__", None) if name is None else name
        plain = not depends and (_NO_PARAMETERS.get(getattr(func, "__code__", None)) or _takes_nothing(func))
        declared = [self, func, depends, step_name, concurrent, config, None, plain]

        async def wrapper() -> Any:
            """Await the step: resolve its dependencies, then run (or replay) it, once per memo
            key; concurrent awaits of a running step wait for its result."""
            # one closure cell: a workflow keeps every step it declares until run() ends
            owner, func, key = declared[_OWNER], declared[_FUNC], declared[_KEY]
            if declared[_PLAIN]:  # no parameter, no depends: nothing to resolve
                invoke: Callable[[Callable[[], Any]], Any] = lambda _make_ctx: func()  # noqa: E731
            else:
                slots = owner._dependency_slots(func, declared[_DEPENDS], declared[_NAME])
                invoke = _invoker(func, await owner._resolve_all(slots, declared[_CONCURRENT]) if slots else slots)
            # Runs in the awaiting task: the SDK's task per step would cost an event-loop turn per step.
            waiters: list[asyncio.Future[Any]] = []
            in_flight = owner._in_flight
            in_flight[key] = waiters
            try:
                result = await owner._runner.do(declared[_NAME], declared[_CONFIG], invoke)
            except BaseException as exc:
                _settle(waiters, exc)
                raise
            finally:
                in_flight.pop(key, None)
            owner._memoized[key] = result
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(result)
            return result

        # a token, not the wrapper itself: a wrapper whose closure held it would be a reference
        # cycle, which only the garbage collector frees (see :meth:`_release`)
        declared[_KEY] = object() if self._per_function else step_name
        wrapper._step_name = step_name  # type: ignore[attr-defined]
        wrapper._memo_key = declared[_KEY]  # type: ignore[attr-defined]
        if isinstance(step_name, str):  # other names fail when awaited, with Cloudflare's error
            self.step_closures[step_name] = wrapper
            self._function_names[getattr(func, "__name__", step_name)] = step_name
        return wrapper

    def _dependency_slots(self, func: Callable[..., Any], depends: Any, step_name: Any) -> list[Any]:
        names = _parameter_names(func)
        if self._implicit:
            slots: list[Any] = []
            for param in names:
                if param in self.step_closures:
                    slots.append(self.step_closures[param])
                elif param == "ctx":
                    slots.append(_CTX)
                else:
                    raise TypeError(f"Received unexpected parameter {param}: {self._unknown_dependency(step_name, param)}")
            return slots
        non_ctx = [p for p in names if p != "ctx"]
        if depends is None and non_ctx:
            raise TypeError(
                f"Step has {len(non_ctx)} non-ctx parameter(s) but no 'depends' list provided"
            )
        if depends is not None and len(depends) != len(non_ctx):
            raise TypeError(
                f"Step declares {len(non_ctx)} non-ctx parameter(s) but 'depends' has "
                f"{len(depends)} item(s)"
            )
        slots = []
        position = 0
        for param in names:
            if param == "ctx":
                slots.append(_CTX)
                continue
            dependency = depends[position]
            if not hasattr(dependency, "_step_name") and not self._checks_depends:
                dependency = _UncheckedEntry(param, dependency)
            elif not hasattr(dependency, "_step_name"):
                raise TypeError(
                    f"'depends' entry for parameter {param!r} is not a function decorated with step.do"
                )
            slots.append(dependency)
            position += 1
        return slots

    def _unknown_dependency(self, step_name: Any, param: str) -> str:
        """What an implicit-dependency parameter naming no step means, with the closest names."""
        declared = sorted(name for name in self.step_closures if name != step_name)
        listed = ", ".join(repr(name) for name in declared) or "none"
        named = self._function_names.get(param)
        if named is not None and named != param:
            return (
                f"step {step_name!r} has a parameter {param!r}, the function of the step named "
                f"{named!r}; a parameter must match the step's name, not its function's: name that "
                f'step "{param}" (or use @step.do() without a name)'
            )
        return (
            f"step {step_name!r} has a parameter {param!r}, but no step of that name "
            f"is declared before it{did_you_mean(param, [*declared, 'ctx'])}; a parameter receives the "
            f"result of the step.do-decorated function of the same name declared earlier in run "
            f"(declared so far: {listed}), or the step context when named ctx"
        )

    async def _resolve_all(self, slots: list[Any], concurrent: bool) -> list[Any]:
        if concurrent:
            return list(await asyncio.gather(*(self._resolve(slot) for slot in slots)))
        return [await self._resolve(slot) for slot in slots]

    def _memo_key(self, wrapper: Any) -> Any:
        return getattr(wrapper, "_memo_key", wrapper) if self._per_function else wrapper._step_name

    def _release(self) -> None:
        """The run has ended: forget the declared steps and their results. They refer back to
        this object (which refers to the run, its instance and its steps), a reference cycle
        only the garbage collector would free; without it, reference counting frees them at
        once (many instances woken together leave the collector little to walk)."""
        self.step_closures.clear()
        self._memoized.clear()

    async def _resolve(self, slot: Any) -> Any:
        if slot is _CTX:
            return _CTX
        if isinstance(slot, _UncheckedEntry):
            return slot.resolve()
        key = self._memo_key(slot)
        if key in self._memoized:
            return self._memoized[key]
        waiters = self._in_flight.get(key)
        if waiters is not None:  # running: wait for its result instead of running it again
            waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            waiters.append(waiter)
            return await waiter
        return await slot()

    # -- sleeps and events -----------------------------------------------------------------

    def sleep(self, *args: Any, **kwargs: Any) -> Awaitable[None]:
        """``await step.sleep(name, duration)``: duration ``"10 seconds"`` or milliseconds."""
        if kwargs or len(args) != 2:
            raise TypeError(
                "step.sleep takes exactly two positional arguments (name, duration); on Cloudflare "
                "keyword arguments are passed to JavaScript as one object and misread"
            )
        return self._runner.sleep(args[0], args[1])

    def sleep_until(self, name: Any, timestamp: Any) -> Awaitable[None]:
        """``await step.sleep_until(name, when)``: a ``datetime`` (naive = UTC) or epoch ms."""
        return self._runner.sleep_until(name, timestamp)

    def wait_for_event(
        self, name: Any, event_type: Any, /, timeout: Any = "24 hours"
    ) -> Awaitable[Any]:
        """``await step.wait_for_event(name, type, timeout="24 hours")`` → ``{payload, timestamp, type}``."""
        return self._runner.wait_for_event(name, event_type, timeout)
