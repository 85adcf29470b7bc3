"""What the Azure Functions Python worker refuses when it loads an app, checked before devhost starts.

devhost is our own host, so it would happily run functions that Azure's Python worker refuses
to load; and on Azure the worker stops at the first such function, so the host loads none of
the app's functions (DESIGN.md, "Running locally"). This module applies the worker's load-time
rules (learned from azure-functions-python-worker 4.34, ``Registry.add_indexed_function``) to
every function and words each refusal as the worker does (``cannot load the NAME function:
...``), so a developer sees under devhost exactly what Azure would say. The rules:

* every annotation resolves (``typing.get_type_hints``; an unresolvable string fails);
* no ``inout`` binding; a ``$return`` binding has the ``out`` direction;
* a ``context`` parameter the bindings do not name is annotated ``azure.functions.Context``
  (or not at all);
* the parameters and the bindings name the same set;
* a binding parameter's annotation is a class or a ``typing`` generic: a PEP 585 alias such as
  ``list[func.ServiceBusMessage]`` or a ``Union``/``Optional`` is refused as a "non-type
  annotation" (write ``typing.List[...]``), and ``func.Out[...]`` only on ``out`` bindings;
* the annotation is one the binding's converter accepts (``str``/``bytes`` go to the generic
  binding), and an explicit return annotation is a class the return binding accepts.

The binding converters are the ``azure.functions`` library's own (the same registry the worker
asks), so a type the library accepts is accepted here and nowhere else.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from azure.functions._thirdparty import typing_inspect

_IN, _OUT, _INOUT = 0, 1, 2  # azure.functions BindingDirection values, as the worker's protos

# The library's helpers carry no annotations; typed names for them keep this module strict.
_is_generic_type: Callable[[Any], bool] = typing_inspect.is_generic_type
_generic_origin: Callable[[Any], Any] = typing_inspect.get_origin
_generic_args: Callable[[Any], tuple[Any, ...]] = typing_inspect.get_args
_binding_registry: Callable[[], Any] = func.get_binding_registry


@dataclass(frozen=True, slots=True)
class Refusal:
    """One function the worker would not load, with the worker's own wording."""

    function: str
    message: str

    def __str__(self) -> str:
        return f"{self.function}: {self.message}"


class _LoadError(Exception):
    def __init__(self, function: str, message: str) -> None:
        super().__init__(f"cannot load the {function} function: {message}")


def _converter(binding_type: str) -> Any:
    return _binding_registry().get(binding_type)


def _has_implicit_output(binding_type: str) -> bool:
    converter = _converter(binding_type)
    return bool(converter is not None and getattr(converter, "has_implicit_output", lambda: False)())


def _accepts_input(binding_type: str, pytype: Any) -> bool:
    converter = _converter(binding_type)
    if converter is None:  # the generic binding: str or bytes
        return issubclass(pytype, (str, bytes))
    return bool(converter.check_input_type_annotation(pytype))


def _accepts_output(binding_type: str, pytype: Any) -> bool:
    converter = _converter(binding_type)
    if converter is None:
        return issubclass(pytype, (str, bytes, bytearray))
    return bool(converter.check_output_type_annotation(pytype))


def _is_out(annotation: Any) -> bool:
    origin = _generic_origin(annotation) if _is_generic_type(annotation) else None
    candidate = origin if origin is not None else annotation
    return isinstance(candidate, type) and candidate.__name__ == "Out"


def _direction(binding: Any) -> int:
    direction = getattr(binding, "direction", _IN)
    return int(getattr(direction, "value", direction))


def _deferred_binding_probe(annotation: Any) -> None:
    """The worker first asks its deferred-binding registry (azurefunctions-extensions-base, which
    ships with the worker) whether the annotation is an SDK type; for a generic annotation that
    asks ``issubclass`` of its origin, which raises ``TypeError`` when the origin is not a class
    (``Union``, so ``Optional[...]`` too). Reproduced here so the error is the worker's."""
    origin = typing.get_origin(annotation)
    if origin is not None and annotation is not None:
        issubclass(origin, collections.abc.Iterable)


def _check_parameter(name: str, function: str, annotated: bool, annotation: Any, binding: Any) -> None:
    if annotated:
        _deferred_binding_probe(annotation)
    is_out_param = annotated and _is_out(annotation)
    is_out_binding = _direction(binding) == _OUT
    pytype = annotation
    if is_out_param:
        args = _generic_args(annotation)
        if len(args) != 1:
            raise _LoadError(function, f"binding {name} has invalid Out annotation {annotation!r}")
        pytype = args[0]
    if annotated and not isinstance(pytype, type) and not _is_generic_type(pytype):
        raise _LoadError(function, f"binding {name} has invalid non-type annotation {annotation!r}")
    if is_out_binding and annotated and not is_out_param:
        raise _LoadError(
            function,
            f'binding {name} is declared to have the "out" direction, but its annotation in Python '
            "is not a subclass of azure.functions.Out",
        )
    if not is_out_binding and is_out_param:
        raise _LoadError(
            function,
            f'binding {name} is declared to have the "in" direction in function.json, but its '
            "annotation is azure.functions.Out in Python",
        )
    if not annotated:
        return
    binding_type = str(binding.type)
    checked_as = (
        "generic" if pytype in (str, bytes) and not _has_implicit_output(binding_type) else binding_type
    )
    accepted = _accepts_output(checked_as, pytype) if is_out_param else _accepts_input(checked_as, pytype)
    if accepted:
        return
    # For an indexed (v2) function the worker always takes the "dataType" wording: the binding
    # object's data_type (None when unset) is never the proto's "undefined".
    data_type = getattr(binding, "data_type", None)
    type_name = getattr(pytype, "__name__", repr(pytype))
    raise _LoadError(
        function,
        f'{name!r} binding type "{binding_type}" and dataType "{data_type}" in function.json do '
        f'not match the corresponding function parameter\'s Python type annotation "{type_name}"',
    )


def _check_return(function: str, hints: Mapping[str, Any], return_binding: Any | None) -> None:
    if return_binding is None or "return" not in hints:
        return
    annotation = hints["return"]
    if _is_generic_type(annotation) and _is_out(annotation):
        raise _LoadError(function, "return annotation should not be azure.functions.Out")
    if not isinstance(annotation, type):
        raise _LoadError(function, f"has invalid non-type return annotation {annotation!r}")
    binding_type = str(return_binding.type)
    if not _accepts_output(binding_type, annotation):
        raise _LoadError(
            function,
            f'Python return annotation "{annotation.__name__}" does not match binding type "{binding_type}"',
        )


def check_function(name: str, user_function: Callable[..., Any], bindings: Iterable[Any]) -> None:
    """Raise with the worker's message if the worker would refuse to load this function."""
    parameters = dict(inspect.signature(user_function).parameters)
    hints = typing.get_type_hints(user_function)
    bound: dict[str, Any] = {}
    return_binding = None
    for binding in bindings:
        direction = _direction(binding)
        if direction == _INOUT:
            raise _LoadError(name, '"inout" bindings are not supported')
        if binding.name == "$return":
            if direction != _OUT:
                raise _LoadError(name, '"$return" binding must have direction set to "out"')
            return_binding = binding
        else:
            bound[binding.name] = binding
    if "context" in parameters and "context" not in bound:
        parameters.pop("context")
        context = hints.get("context")
        if "context" in hints and (not isinstance(context, type) or context.__name__ != "Context"):
            raise _LoadError(
                name,
                f'the "context" parameter is expected to be of type azure.functions.Context, got {context!r}',
            )
    if set(parameters) - set(bound):
        raise _LoadError(
            name,
            "the following parameters are declared in Python but not in function.json: "
            f"{set(parameters) - set(bound)!r}",
        )
    if set(bound) - set(parameters):
        raise _LoadError(
            name,
            "the following parameters are declared in function.json but not in Python: "
            f"{set(bound) - set(parameters)!r}",
        )
    for parameter in parameters.values():
        _check_parameter(
            parameter.name, name, parameter.name in hints, hints.get(parameter.name), bound[parameter.name]
        )
    _check_return(name, hints, return_binding)


def refusals(functions: Iterable[Any]) -> list[Refusal]:
    """Every function of the app (``FunctionApp.get_functions()``) the worker would refuse.

    Each is checked alone so that all of them are named; on Azure the first one is enough for
    the worker to load none.
    """
    found: list[Refusal] = []
    for function in functions:
        name = function.get_function_name()
        try:
            check_function(name, function.get_user_function(), function.get_bindings())
        except _LoadError as exc:
            found.append(Refusal(name, f"FunctionLoadError: {exc}"))
        except Exception as exc:  # the worker reports any other failure by its type and text
            found.append(Refusal(name, f"{type(exc).__name__}: {exc}"))
    return found
