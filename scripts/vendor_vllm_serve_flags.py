"""Writes the table of every `vllm serve` option, read from vLLM's own argument parser.

vllm-deploy parses `vllm serve` arguments without vLLM installed (the spec validator, the
tests, the launcher before it execs vLLM), so it needs vLLM's option strings, arities and
actions exactly: argparse resolves abbreviations (`--api-server 2`) against the whole set.
This script builds the parser the way `vllm serve` does (`vllm/entrypoints/common/cli_args.py`
`make_arg_parser` on a `FlexibleArgumentParser`) and dumps each action.

Run it with a Python that can import the vLLM release to vendor; no GPU is needed:

    VLLM_TARGET_DEVICE=cpu python scripts/vendor_vllm_serve_flags.py

The vLLM wheel (`pip install --no-deps vllm==X`) imports on a CPU machine once its pure-Python
dependencies, torch and xgrammar are present. After writing the table, the script parses a
set of command lines (data parallelism, spellings, abbreviations, --config files, dotted
options) with vLLM's parser and with vllm-deploy's, and fails on any difference in the
options vllm-deploy reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "vllm_deploy" / "vllm_cli" / "vllm-serve-flags.json"
# Options whose parsed values vllm-deploy relies on; the others it only needs to skip.
CHECKED = [
    "model_tag",
    "api_server_count",
    "data_parallel_size",
    "data_parallel_size_local",
    "data_parallel_rank",
    "data_parallel_start_rank",
    "data_parallel_hybrid_lb",
    "data_parallel_external_lb",
    "data_parallel_multi_port_external_lb",
    "enable_elastic_ep",
    "headless",
    "grpc",
    "disable_log_stats",
    "served_model_name",
    "middleware",
    "port",
    "host",
    "enable_log_requests",
    "disable_uvicorn_access_log",
    "uvicorn_log_level",
    "model",
]
CONFIGS = {
    "dp.yaml": "api_server_count: 2\ndata-parallel-size: 2\n",
    "flags.yaml": "data-parallel-size: 4\nheadless: false\ndisable-log-stats: true\n",
    "model.yaml": "model: m2\nport: 8001\n",
}
CASES = [
    ["m"], ["m", "-dp", "2"], ["m", "--data_parallel_size", "2"], ["m", "--api_server_count=3"],
    ["m", "--api-server", "2"], ["m", "-asc", "2"], ["m", "-asc=1", "-dp", "4"],
    ["m", "--data-parallel-size-local", "2", "--data-parallel-hybrid-lb", "-dp", "4"],
    ["m", "-dpr", "0", "-dp", "4", "-dpl", "2"], ["m", "-dpn", "1", "-dp", "2"],
    ["m", "--no-data-parallel-external-lb", "-dp", "2"], ["m", "--enable-elastic-ep", "-dp", "2"],
    ["m", "--compilation-config.mode", "3", "-O3"], ["m", "-O", "2", "--disable-log-stats"],
    ["m", "--served_model_name", "a", "b", "--max_model_len", "8k"], ["m", "--headless"],
    ["m", "--grpc"], ["m", "--data-parallel-multi-port-external-lb", "-dp", "2"],
    ["m", "--enable-log-requests", "--disable-uvicorn-access-log", "--middleware", "a.B"],
    ["m", "--speculative-config.model", "x", "--speculative_config.num_speculative_tokens", "3"],
    ["m", "--uvicorn-log-level", "debug", "--port", "9000", "--host=0.0.0.0"],
    ["m", "--config", "{dir}/dp.yaml"], ["m", "--config", "{dir}/flags.yaml", "-asc", "1"],
    ["--config", "{dir}/model.yaml"], ["m", "--nope"], ["m", "--data-parallel-s", "2"],
    ["m", "--uvicorn-log-level", "loud"], ["m", "-asc", "two"],
]  # fmt: skip


def _type_name(kind: Any) -> str:
    """The converters vllm-deploy reproduces; any other is kept as a string."""
    if kind is None or kind is str:
        return "str"
    if kind in (int, float):
        return str(kind.__name__)
    name = getattr(kind, "__qualname__", "")
    if name.startswith(("optional_type.", "parse_type.")) and kind.__closure__:
        inner = kind.__closure__[0].cell_contents
        return _type_name(inner) if inner in (int, float, str) else "other"
    if name in ("human_readable_int", "human_readable_int_or_auto"):
        return name
    return "other"


def _action_kind(action: argparse.Action) -> str:
    kinds = {
        argparse._StoreAction: "store",
        argparse._StoreTrueAction: "store_true",
        argparse._StoreFalseAction: "store_false",
        argparse._StoreConstAction: "store_const",
        argparse._AppendAction: "append",
        argparse._HelpAction: "help",
    }
    for cls, kind in kinds.items():
        if type(action) is cls:
            return kind
    if isinstance(action, argparse.BooleanOptionalAction):
        return "boolean"
    # vLLM's own actions (LoRAParserAction, DeprecatedLogConfigFileAction) store their values.
    return "store"


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _write_table() -> None:
    from vllm._version import __commit_id__, __version__
    from vllm.entrypoints.common.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = make_arg_parser(FlexibleArgumentParser())
    # Every option string argparse matches against, grouped by action (hidden aliases too).
    strings: dict[int, list[str]] = {}
    for option, action in parser._option_string_actions.items():
        strings.setdefault(id(action), []).append(option)
    options = []
    for action in parser._actions:
        if not action.option_strings:
            continue
        kind = _action_kind(action)
        entry: dict[str, Any] = {
            "flags": sorted(strings[id(action)], key=lambda s: (not s.startswith("--"), s)),
            "dest": action.dest,
            "action": kind,
        }
        if kind in ("store", "append"):
            entry["nargs"] = action.nargs
            entry["type"] = _type_name(action.type)
            if action.choices is not None and all(isinstance(c, str) for c in action.choices):
                entry["choices"] = sorted(action.choices)
        if kind == "boolean":
            entry["negative_flags"] = sorted(getattr(action, "negative_option_strings", ()))
        entry["default"] = _jsonable(action.default)
        options.append(entry)
    positionals = [
        {"dest": a.dest, "nargs": a.nargs} for a in parser._actions if not a.option_strings
    ]
    commit = __commit_id__.removeprefix("g") if __commit_id__ else None
    table = {
        "source": (
            f"vLLM {__version__} (PyPI wheel{f', commit {commit}' if commit else ''}): the parser "
            "of `vllm serve` (vllm/entrypoints/common/cli_args.py make_arg_parser, "
            "vllm/engine/arg_utils.py EngineArgs.add_cli_args, "
            "vllm/utils/argparse_utils.py FlexibleArgumentParser)"
        ),
        "generated_by": "scripts/vendor_vllm_serve_flags.py",
        "license": "Apache-2.0 (vLLM); option names and arities of vLLM's command line",
        "vllm_version": __version__,
        "positionals": positionals,
        "options": options,
    }
    # One option per line: a vLLM bump shows as a readable diff.
    head = json.dumps({k: v for k, v in table.items() if k != "options"}, indent=1)
    lines = ",\n".join("  " + json.dumps(option) for option in options)
    OUT.write_text(head[:-2] + ',\n "options": [\n' + lines + "\n ]\n}\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(options)} options of vLLM {__version__}")


def _check() -> int:
    """Both parsers on every case: the same values, or both refusing."""
    from vllm.entrypoints.common.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    sys.path.insert(0, str(ROOT / "src"))
    from vllm_deploy.vllm_cli import VllmArgsError, parse_serve_args

    top = FlexibleArgumentParser()
    make_arg_parser(top.add_subparsers().add_parser("serve"))
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in CONFIGS.items():
            Path(tmp, name).write_text(text)
        for case in CASES:
            args = [arg.replace("{dir}", tmp) for arg in case]
            try:
                theirs = vars(top.parse_args(["serve", *args]))
            except BaseException:  # argparse exits on errors
                theirs = None
            try:
                ours = vars(parse_serve_args(args))
            except VllmArgsError:
                ours = None
            same = (theirs is None) == (ours is None) and (
                theirs is None or all(theirs.get(d) == ours.get(d) for d in CHECKED)
            )
            failures += not same
            print(f"{'ok' if same else 'DIFFERENT':9} {' '.join(case)}")
    return failures


def main() -> None:
    _write_table()
    failures = _check()
    if failures:
        sys.exit(f"{failures} command lines parse differently")


if __name__ == "__main__":
    main()
