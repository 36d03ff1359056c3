"""Loading a user's model: ``path/to/file.py[:name]`` or ``package.module[:name]``.

A *workload* is what the counter needs: a factory that builds the model (so it can be built on
the meta device) and a factory for one batch of input. This module imports torch only inside
functions; it never runs the model (the counter does).
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from green_estimate.errors import ModelLoadError

ENTRY_POINTS = ("build_model", "model", "get_model")


@dataclass
class Workload:
    """A model and its input, ready to be counted.

    Attributes:
        name: how the user named it (``examples/cnn.py``).
        build: builds the model; called inside ``torch.device(...)`` so parameters land there.
        example_input: ``batch_size -> tensor | tuple[tensor, ...]`` (any device; the counter
            moves it), or ``None`` when only a shape is known.
        input_shape: per-sample shape used when ``example_input`` is ``None``.
        prebuilt: True when the file built the model at import (a module-level ``model``), so the
            parameters already exist on the CPU.
        buffers_from: the model object whose buffer values (position ids, running statistics) the
            counter's CPU fallback puts back, when ``build`` returns a meta copy of it (``count(module)``).
    """

    name: str
    build: Callable[[], Any]
    example_input: Callable[[int], Any] | None = None
    input_shape: tuple[int, ...] | None = None
    prebuilt: bool = False
    notes: list[str] = field(default_factory=list)
    input_dtype: Any = None  # a torch.dtype for the INPUT_SHAPE input (None: float32)
    vocab_size: int | None = None  # random token ids are drawn below this (None: the smallest embedding)
    buffers_from: Any = None


# What INPUT_DTYPE / --input-dtype accept, and the torch dtype each names.
DTYPES = {
    "float32": "float32", "float": "float32", "fp32": "float32", "float64": "float64", "double": "float64",
    "float16": "float16", "half": "float16", "fp16": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16",
    "int64": "int64", "long": "int64", "int32": "int32", "int": "int32", "int16": "int16", "int8": "int8",
    "uint8": "uint8", "bool": "bool",
}


def parse_dtype(value: Any, where: str) -> Any:
    """``"long"``, ``"int64"``, ``torch.long``... → the torch dtype; anything else is a ModelLoadError."""
    import torch

    if isinstance(value, torch.dtype):
        return value
    key = str(value).strip().lower().removeprefix("torch.")
    if key not in DTYPES:
        raise ModelLoadError(f"{where} {value!r} is not a dtype: use one of {', '.join(sorted(set(DTYPES)))} "
                             "(int64 for token ids)")
    return getattr(torch, DTYPES[key])


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"m.py:build"`` → ``("m.py", "build")``; a Windows drive letter is not a name."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail and tail.isidentifier() and not (len(head) == 1 and head.isalpha()):
        return head, tail
    return spec, None


def import_source(target: str) -> ModuleType:
    """Import a model file or a module, turning every failure into a :class:`ModelLoadError`."""
    looks_like_file = target.endswith(".py") or "/" in target or "\\" in target or Path(target).exists()
    if looks_like_file:
        path = Path(target)
        if not path.exists():
            raise ModelLoadError(f"model file {target} does not exist: check the path (relative to {Path.cwd()})")
        if path.is_dir():
            raise ModelLoadError(f"{target} is a directory: name the .py file that defines build_model()")
        mod_name = f"_green_estimate_model_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise ModelLoadError(f"cannot load {target} as Python: give a .py file or a module name")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))  # let the file import its siblings
        try:
            sys.modules[mod_name] = module
            spec.loader.exec_module(module)
        except SyntaxError as e:
            raise ModelLoadError(f"{e.filename or target}:{e.lineno}: syntax error: {e.msg}") from e
        except Exception as e:
            raise ModelLoadError(f"importing {target} raised {type(e).__name__}: {e}{_where(e, path)}") from e
        except SystemExit as e:  # argparse or sys.exit() at import: script code outside a main guard
            raise ModelLoadError(f"importing {target} called sys.exit({e.code!r}){_where(e, path)}: put script code "
                                 "under `if __name__ == \"__main__\":`") from e
        finally:
            sys.path.remove(str(path.resolve().parent))
        return module
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as e:
        raise ModelLoadError(
            f"no model file or module named {target!r} ({e}): give a path ending in .py or an importable module"
        ) from e
    except SyntaxError as e:
        raise ModelLoadError(f"{e.filename}:{e.lineno}: syntax error: {e.msg}") from e
    except Exception as e:
        raise ModelLoadError(f"importing {target} raised {type(e).__name__}: {e}") from e


def _where(e: BaseException, path: Path) -> str:
    """`` (file.py line 12)`` for the deepest frame of the user's file in a traceback."""
    tb = e.__traceback__
    line = None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == path.resolve():
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" ({path}, line {line})" if line else ""


def load_workload(
    spec: str,
    *,
    input_shape: tuple[int, ...] | None = None,
    model_kwargs: dict | None = None,
    input_dtype: str | None = None,
    vocab_size: int | None = None,
) -> Workload:
    """Resolve a MODEL spec into a :class:`Workload`.

    Without ``:name`` the file provides ``build_model()`` (preferred), a module-level ``model``, or
    ``get_model()``. The input comes from ``example_input(batch_size)``, else ``INPUT_SHAPE``, else
    ``input_shape``; an explicit ``input_shape`` overrides the file. The ``INPUT_SHAPE`` input is of
    ``INPUT_DTYPE`` (or ``input_dtype``; float32 by default) — an integer dtype makes token ids, drawn
    below ``VOCAB_SIZE`` (or ``vocab_size``; default: the model's smallest embedding table).

    Raises:
        ModelLoadError: missing file, syntax error, no entry point, no input shape.
    """
    target, name = split_spec(spec)
    module = import_source(target)
    entry, entry_name = _entry_point(module, target, name)
    build, prebuilt = _factory(entry, entry_name, target, dict(model_kwargs or {}))
    example, shape = _example_and_shape(module, spec, target, input_shape)
    dtype = _input_dtype(module, target, input_dtype)
    vocab = _vocab_size(module, target, vocab_size)
    return Workload(name=spec, build=build, example_input=example, input_shape=shape, prebuilt=prebuilt,
                    input_dtype=dtype, vocab_size=vocab)


def _entry_point(module: ModuleType, target: str, name: str | None) -> tuple[Any, str]:
    """The object that gives the model, and its name: ``name`` if given, else the first of ENTRY_POINTS."""
    if name is not None:
        if not hasattr(module, name):
            raise ModelLoadError(f"{target} has no attribute {name!r}: check the name after the colon")
        return getattr(module, name), name
    found = [n for n in ENTRY_POINTS if hasattr(module, n)]
    if not found:
        raise ModelLoadError(
            f"{target} defines none of build_model(), model, get_model(): add a build_model() that "
            f"returns the torch.nn.Module, or name the object as {target}:NAME"
        )
    return getattr(module, found[0]), found[0]


def _example_and_shape(
    module: ModuleType, spec: str, target: str, input_shape: tuple[int, ...] | None,
) -> tuple[Callable[[int], Any] | None, tuple[int, ...] | None]:
    """The file's ``example_input`` or the per-sample shape; an explicit ``input_shape`` overrides the file.

    ``INPUT_SHAPE`` is read only when neither ``input_shape`` nor ``example_input`` gives the input.
    """
    example = getattr(module, "example_input", None)
    shape = input_shape
    if shape is None and example is None:
        file_shape = getattr(module, "INPUT_SHAPE", None)
        if file_shape is not None:
            try:
                shape = tuple(int(d) for d in file_shape)
            except (TypeError, ValueError):
                raise ModelLoadError(f"INPUT_SHAPE in {target} must be a tuple of ints, e.g. (3, 32, 32); got {file_shape!r}") from None
    if input_shape is not None:
        example = None  # the option overrides the file
    if shape is None and example is None:
        raise ModelLoadError(
            f"no input shape for {spec}: define example_input(batch_size) or INPUT_SHAPE = (3, 32, 32) in the "
            "file, or pass --input-shape 3,32,32 (the per-sample shape, without the batch)"
        )
    if example is not None and not callable(example):
        raise ModelLoadError(f"example_input in {target} must be a function of batch_size")
    return example, shape


def _input_dtype(module: ModuleType, target: str, input_dtype: str | None) -> Any:
    """The torch dtype of the ``INPUT_SHAPE`` input: ``input_dtype``, else the file's ``INPUT_DTYPE``, else None."""
    dtype_value = input_dtype if input_dtype is not None else getattr(module, "INPUT_DTYPE", None)
    dtype_where = "--input-dtype" if input_dtype is not None else f"INPUT_DTYPE in {target}"
    return None if dtype_value is None else parse_dtype(dtype_value, dtype_where)


def _vocab_size(module: ModuleType, target: str, vocab_size: int | None) -> int | None:
    """Token ids are drawn below this: ``vocab_size``, else ``VOCAB_SIZE``, else None (the smallest embedding)."""
    vocab = vocab_size if vocab_size is not None else getattr(module, "VOCAB_SIZE", None)
    if vocab is not None and (isinstance(vocab, bool) or not isinstance(vocab, int) or vocab < 1):
        where = "--vocab-size" if vocab_size is not None else f"VOCAB_SIZE in {target}"
        raise ModelLoadError(f"{where} must be a positive integer (the number of token ids), got {vocab!r}")
    return vocab


def _factory(entry: Any, entry_name: str, target: str, kwargs: dict) -> tuple[Callable[[], Any], bool]:
    import torch

    if isinstance(entry, torch.nn.Module):
        if kwargs:
            raise ModelLoadError(f"{target}:{entry_name} is a model instance; parameters {sorted(kwargs)} need build_model(**params)")
        return (lambda: entry), True
    if not callable(entry):
        raise ModelLoadError(f"{target}:{entry_name} is a {type(entry).__name__}, not a torch.nn.Module or a function returning one")
    if kwargs:
        _check_kwargs(entry, entry_name, target, kwargs)

    def build() -> Any:
        try:
            model = entry(**kwargs)
        except Exception as e:
            raise ModelLoadError(f"{entry_name}() in {target} raised {type(e).__name__}: {e}") from e
        if not isinstance(model, torch.nn.Module):
            raise ModelLoadError(f"{entry_name}() in {target} returned a {type(model).__name__}, not a torch.nn.Module")
        return model

    return build, False


def _check_kwargs(fn: Callable, name: str, target: str, kwargs: dict) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    unknown = sorted(set(kwargs) - set(sig.parameters))
    if unknown:
        raise ModelLoadError(f"{name}() in {target} takes no parameter(s) {unknown}; it takes {list(sig.parameters)}")
