"""``python -m weights_tools <command>``: checkpoint conversion, inspection, casting, download, verification.

    python -m weights_tools convert SRC_DIR DST_DIR [--force]
    python -m weights_tools inspect DIR
    python -m weights_tools cast DIR DST --dtype float16|bfloat16 [--reference NPZ] [--max-drift X]
    python -m weights_tools download NAME [--revision R] [--dir DIR] [--cache-dir C] [--offline]
    python -m weights_tools verify DIR [--reference NPZ] [--inputs JSON] [--cranfield DIR] [--tolerance X]
    python -m weights_tools make-standin DIR [--from SRC] [--seed N] [--force]
    python -m weights_tools make-fixtures [...]              (needs torch; see tests/fixtures/README.md)
    python -m weights_tools make-torch-bin-fixtures [...]    (needs torch)
    python -m weights_tools make-arch-fixtures [...]         (needs torch; RoBERTa/XLM-R/ELECTRA/DistilBERT, pipelines)
    python -m weights_tools make-explain-fixtures [...]      (needs torch)
    python -m weights_tools make-cranfield-reference [...]   (needs sentence-transformers, pytrec-eval-terrier)
    python -m weights_tools make-st-api-reference [...]      (needs sentence-transformers)

Exit status: 0 success; 1 an error (one line on stderr; --debug shows the traceback); 2 usage;
3 the command ran but its check failed (inspect: would not load; verify/cast: beyond tolerance);
141 stdout's reader went away (``| head``), as for any Unix tool.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from minilm_np.cli.output import quiet_broken_pipe
from minilm_np.errors import ModelLoadError

from . import ToolError

# name -> (module, one-line help). Each module has add_arguments(parser) and run(args) -> int.
COMMANDS = {
    "convert": ("weights_tools.convert", "pytorch_model.bin -> model.safetensors (no torch needed)"),
    "inspect": ("weights_tools.inspect", "config, tensors, parameter count, missing/unexpected tensors"),
    "cast": ("weights_tools.cast", "float16/bfloat16 copy of a checkpoint and its score drift"),
    "download": ("weights_tools.download", "fetch a model through the Hub cache (converting a .bin-only one)"),
    "verify": ("weights_tools.verify", "compare the engine with stored reference outputs"),
    "make-standin": ("weights_tools.make_standin", "an MS MARCO L-6-shaped cross-encoder made from local "
                                                   "all-MiniLM-L6-v2 weights (no Hub)"),
}
# Commands with their own argument parsing, run as module.main(argv); imported only when used.
DELEGATED = {
    "make-fixtures": ("weights_tools.make_fixtures", "regenerate tests/fixtures/models and reference (torch)"),
    "make-torch-bin-fixtures": ("weights_tools.make_torch_bin_fixtures",
                                "regenerate tests/fixtures/torch_bin (torch)"),
    "make-arch-fixtures": ("weights_tools.make_arch_fixtures",
                           "regenerate tests/fixtures/archs: the other bodies, heads and pipelines (torch)"),
    "make-explain-fixtures": ("weights_tools.make_explain_fixtures",
                              "regenerate the window and trace references (torch)"),
    "make-cranfield-reference": ("weights_tools.make_cranfield_reference",
                                 "regenerate the Cranfield quality reference (sentence-transformers, trec_eval)"),
    "make-st-api-reference": ("weights_tools.make_st_api_reference",
                              "regenerate what sentence-transformers' keyword names give (sentence-transformers)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        return importlib.import_module(DELEGATED[argv[0]][0]).main(argv[1:])
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error argparse already printed
        return e.code if isinstance(e.code, int) else 2
    try:
        code = args.module.run(args)
        sys.stdout.flush()  # a reader that has gone shows here, not as a complaint at exit
        return code
    except KeyboardInterrupt:
        print("weights_tools: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout's reader has gone (`| head`): stop quietly, as Unix tools do
        return quiet_broken_pipe()
    except (ModelLoadError, ToolError, OSError, ValueError) as e:
        if args.debug:
            raise
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"weights_tools {args.command}: error: {message}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m weights_tools",
                                     description="Checkpoint conversion, inspection, casting, download and "
                                                 "verification for minilm_np.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(f"  {name:<24} {text}" for name, (_, text) in DELEGATED.items()))
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (module_name, text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=text, description=module.__doc__.split("\n\n")[0].replace("``", ""))
        module.add_arguments(p)
        p.add_argument("--debug", action="store_true", help="show the traceback of an error")
        p.set_defaults(module=module)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
