"""`vllm serve` arguments parsed as vLLM parses them, without vLLM installed.

The options come from ``vllm-serve-flags.json``, generated from vLLM's own parser by
``scripts/vendor_vllm_serve_flags.py``: every option string (hidden aliases included, so
argparse resolves abbreviations such as ``--api-server 2`` against the same set), arity and
action. Before argparse, :func:`parse_serve_args` rewrites the arguments the way
``FlexibleArgumentParser.parse_args`` does in vLLM 0.33.0 (``vllm/utils/argparse_utils.py``
lines 313-513): ``--config FILE.yaml`` is expanded in place (``_pull_args_from_config``,
``load_config_file``), underscores in option names become dashes, ``-O3`` becomes
``--optimization-level 3``, and dotted options (``--compilation-config.mode 3``) are merged
into one JSON value per option.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import yaml

from vllm_deploy.contract import VLLM_VERSION

__all__ = ["FLAGS_FILE", "VLLM_VERSION", "VllmArgsError", "option_flags", "parse_serve_args"]

FLAGS_FILE = "vllm-serve-flags.json"
_TABLE: dict[str, Any] = json.loads(
    resources.files(__package__ or "vllm_deploy.vllm_cli").joinpath(FLAGS_FILE).read_text()
)
_TYPES: dict[str, Any] = {"int": int, "float": float}
# Everything between the first -- and the first "." (argparse_utils.py line 379).
_OPTION_NAME = re.compile(r"(?<=--)[^\.]*")


class VllmArgsError(ValueError):
    """Arguments `vllm serve` would refuse, or that cannot be read; one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise VllmArgsError(
            f"vllm serve (vLLM {VLLM_VERSION}) would refuse the arguments: {message}"
        )


class _EnableDisable(argparse.Action):
    """vLLM's ``EnableDisableAction``: false for the negative spellings, true otherwise."""

    def __init__(
        self, option_strings: Sequence[str], dest: str, negative: Sequence[str] = (), **kwargs: Any
    ) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)
        self.negative = frozenset(negative)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, option_string not in self.negative)


@cache
def _parser(only_given: bool = False) -> _Parser:
    """vLLM's parser; ``only_given``: the namespace holds only the options given."""
    parser = _Parser(prog="vllm serve", add_help=False)  # errors reach error()
    for positional in _TABLE["positionals"]:
        parser.add_argument(positional["dest"], nargs=positional["nargs"])
    for option in _TABLE["options"]:
        suppressed = only_given or option["default"] == argparse.SUPPRESS
        default = argparse.SUPPRESS if suppressed else option["default"]
        kwargs: dict[str, Any] = {"dest": option["dest"], "default": default}
        kind = option["action"]
        if kind == "boolean":
            kwargs.update(action=_EnableDisable, negative=option["negative_flags"])
        elif kind == "help":
            kwargs["action"] = "store_true"
        elif kind in ("store_true", "store_false"):
            kwargs["action"] = kind
        else:
            kwargs.update(action=kind, nargs=option["nargs"], type=_TYPES.get(option["type"]))
            if "choices" in option:
                kwargs["choices"] = option["choices"]
        parser.add_argument(*option["flags"], **kwargs)
    return parser


@cache
def option_flags() -> dict[str, list[str]]:
    """The option strings of each attribute `vllm serve` sets (``api_server_count``: ...)."""
    return {option["dest"]: option["flags"] for option in _TABLE["options"]}


def parse_serve_args(
    args: Sequence[str], *, read_config: bool = True, only_given: bool = False
) -> argparse.Namespace:
    """The namespace `vllm serve ARGS` would parse (``args`` without ``vllm serve``).

    ``read_config=False`` leaves ``--config FILE`` unexpanded (the file lives in the
    container, not where a spec is validated); ``only_given=True`` leaves out every option
    the arguments do not set, however they spell it. Raises VllmArgsError.
    """
    args = list(args)
    if read_config and "--config" in args:
        args = _pull_args_from_config(args)
    return _parser(only_given).parse_args(_merge_dotted(_normalise(args)))


def _pull_args_from_config(args: list[str]) -> list[str]:
    """The config file's options go after the model and before the other arguments."""
    if args.count("--config") > 1:
        raise VllmArgsError("More than one config file specified!")
    index = args.index("--config")
    if index == len(args) - 1:
        raise VllmArgsError("--config needs a file")
    config_args = _load_config_file(args[index + 1])
    model = 1 if args and not args[0].startswith("-") else 0
    if not model and "--model" not in config_args:
        raise VllmArgsError("No model specified! Give it first, or as `model` in --config")
    return args[:model] + config_args + args[model:index] + args[index + 2 :]


def _load_config_file(file_path: str) -> list[str]:
    extension = file_path.split(".")[-1]
    if extension not in ("yaml", "yml"):
        raise VllmArgsError(
            f"--config has value {file_path!r}: must be a .yaml or .yml file ({extension} supplied)"
        )
    try:
        config = yaml.safe_load(Path(file_path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise VllmArgsError(f"--config has value {file_path!r}: cannot be read ({exc})") from None
    if not isinstance(config, dict):
        raise VllmArgsError(f"--config has value {file_path!r}: expected a mapping of options")
    out: list[str] = []
    for key, value in config.items():
        if isinstance(value, bool):
            # vLLM looks a false value's --no-KEY up on its top-level parser, which has none
            # of serve's options: a false boolean in a config file is dropped.
            if value:
                out.append(f"--{key}")
        elif isinstance(value, list):
            if value:
                out += [f"--{key}", *(str(item) for item in value)]
        elif isinstance(value, dict):
            out += [f"--{key}", json.dumps(value)]
        else:
            out += [f"--{key}", str(value)]
    return out


def _normalise(args: list[str]) -> list[str]:
    """Underscores to dashes in option names; ``-O<n>`` to ``--optimization-level <n>``."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            key, eq, value = arg.partition("=")
            key = _OPTION_NAME.sub(lambda m: m.group(0).replace("_", "-"), key, count=1)
            out.append(f"{key}{eq}{value}")
        elif arg.startswith("-O") and arg != "-O":
            out += ["--optimization-level", arg[3:] if arg[2] == "=" else arg[2:]]
        elif arg == "-O" and i + 1 < len(args) and args[i + 1] in {"0", "1", "2", "3"}:
            out.append("--optimization-level")
        else:
            out.append(arg)
    return out


def _merge_dotted(args: list[str]) -> list[str]:
    """``--opt.a.b V`` arguments become one ``--opt JSON`` each, appended last."""
    merged: dict[str, dict[str, Any]] = {}
    out: list[str] = []
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if not (arg.startswith("-") and "." in arg.partition("=")[0]):
            out.append(arg)
            continue
        key, eq, value = arg.partition("=")
        if not eq:
            if i + 1 >= len(args):
                raise VllmArgsError(f"{arg} needs a value")
            value, skip = args[i + 1], True
        parsed: Any = value
        if key.endswith("+"):
            key, parsed = key[:-1], value.split(",")
        else:
            with contextlib.suppress(json.JSONDecodeError):  # else a plain string
                parsed = json.loads(value)
        name, *path = key.split(".")
        node: dict[str, Any] = merged.setdefault(name, {})
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = parsed
    for name, tree in merged.items():
        out += [name, json.dumps(tree)]
    return out
