"""The ``archsearch`` command line: search, resume, distill, export and list."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from archsearch.version import __version__

EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130  # the shell convention for a process stopped by SIGINT
GLOBAL_OPTIONS = ("-q", "--quiet", "--debug", "--threads")


class UsageError(Exception):
    """Invalid command-line input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit with code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if message.startswith("unrecognized arguments") and any(option in message.split()
                                                                 for option in GLOBAL_OPTIONS):
            raise UsageError(f"{self.prog}: error: {message}; the options {', '.join(GLOBAL_OPTIONS)} go before the "
                             "command, for example archsearch --threads 1 score ...")
        raise UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid positive integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid positive number {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def _add_space_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space-option", action="append", default=[], metavar="KEY=VALUE", dest="space_options",
                        help="an option of the search space, repeatable; VALUE is read as JSON when it parses, "
                             "else as text (for example --space-option preset=cpu --space-option layers=[2,3]); "
                             "see `archsearch spaces`")


def _add_search_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", default="nb201", help="search space name (default: nb201); see `archsearch list`")
    _add_space_option(parser)
    parser.add_argument("--proxy", default=None,
                        help="objective proxy name, optionally followed by comma-separated extra proxies to record, "
                             "for example diswot,cka,params (default: diswot for image spaces, minilm_relation for "
                             "text spaces); see `archsearch list`")
    parser.add_argument("--searcher", default="evolution", help="searcher name: evolution or random (default: evolution)")
    parser.add_argument("--evaluations", type=_positive_int, default=None,
                        help="number of distinct candidates to score (default: 200, or unlimited when --seconds is set)")
    parser.add_argument("--seconds", type=_positive_float, default=None, help="search time limit, in seconds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the searcher, scoring batch and initialisation "
                                                            "(default: 0)")
    parser.add_argument("--max-params", type=_positive_float, default=None, metavar="M",
                        help="maximum parameters of a candidate, in millions")
    parser.add_argument("--max-flops", type=_positive_float, default=None, metavar="M",
                        help="maximum multiply-accumulates per input image of a candidate, in millions "
                             "(the NAS convention for FLOPs)")
    parser.add_argument("--max-latency", type=_positive_float, default=None, metavar="MS",
                        help="maximum latency of a candidate, in milliseconds: the median time of one forward pass "
                             "of a --latency-batch-size batch on --device, over 10 timed passes after 3 warm-up "
                             "passes. Measured only with this option, and slow; the times depend on the machine and "
                             "its load")
    parser.add_argument("--latency-batch-size", type=_positive_int, default=None, metavar="N",
                        help="inputs per timed forward pass of --max-latency (default: 1)")
    parser.add_argument("--batch-size", type=_positive_int, default=64,
                        help="images (or text passages) in the scoring minibatch (default: 64)")
    parser.add_argument("--population", type=_positive_int, default=None,
                        help="evolution: population size (default: 36)")
    parser.add_argument("--sample-size", type=_positive_int, default=None,
                        help="evolution: candidates drawn per tournament (default: 8)")
    parser.add_argument("--data", default=None,
                        help="data: digits (default, scikit-learn's handwritten digits), cifar10:DIR or cifar100:DIR "
                             "(torchvision's CIFAR folder format), or a .npz file with arrays x and y; for text spaces "
                             "a text file (default: the English text of Python's pydoc_data.topics)")
    parser.add_argument("--download", action="store_true",
                        help="download a missing CIFAR archive into the --data folder (needs internet access)")
    parser.add_argument("--teacher", default=None,
                        help="teacher: demo (default, a small CNN trained once on the data and cached), timm:NAME "
                             "(pretrained weights from the local cache), an archsearch teacher checkpoint file, or "
                             "hf:PATH (a Hugging Face model folder; needed by text spaces)")
    parser.add_argument("--teacher-checkpoint", default=None, metavar="FILE",
                        help="state dict (.pth, .pt or .safetensors) for a timm:NAME teacher")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="run directory; an existing run with the same settings is resumed "
                             "(default: a new folder under ./archsearch-runs)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")


def build_parser() -> argparse.ArgumentParser:
    """Return the ``archsearch`` argument parser."""
    parser = _Parser(prog="archsearch", description="Search the student architecture that distils best from a "
                                                    "teacher, without training the candidates.")
    parser.add_argument("--version", action="version", version=f"archsearch {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only results and errors")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an unexpected error")
    parser.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                        help="CPU threads for PyTorch (default: PyTorch's choice, one per core); on a machine "
                             "shared with other jobs, 1 is often faster")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    search = commands.add_parser("search", help="search a space for the best student (no options: the embedded "
                                                "digits demo)")
    _add_search_options(search)
    search.add_argument("--top", type=_positive_int, default=5, help="rows of the result table (default: 5)")

    resume = commands.add_parser("resume", help="continue a stopped search from its run directory")
    resume.add_argument("run_dir", metavar="RUN_DIR")
    resume.add_argument("--evaluations", type=_positive_int, default=None,
                        help="new total number of distinct candidates (default: the stored budget)")
    resume.add_argument("--seconds", type=_positive_float, default=None, help="new total search time, in seconds")
    resume.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    resume.add_argument("--top", type=_positive_int, default=5, help="rows of the result table (default: 5)")

    show = commands.add_parser("show", help="print the best candidates of a run")
    show.add_argument("run_dir", metavar="RUN_DIR")
    show.add_argument("--top", type=_positive_int, default=5, help="rows of the result table (default: 5)")

    distill = commands.add_parser("distill", help="train the best student of a run with and without knowledge "
                                                  "distillation and report both accuracies")
    distill.add_argument("run_dir", metavar="RUN_DIR")
    distill.add_argument("--epochs", type=_positive_int, default=None, help="training epochs (default: 15)")
    distill.add_argument("--batch-size", type=_positive_int, default=None, help="training batch size (default: 64)")
    distill.add_argument("--lr", type=_positive_float, default=None, help="initial SGD learning rate (default: 0.05)")
    distill.add_argument("--temperature", type=_positive_float, default=None,
                         help="softmax temperature of the distillation loss (default: 4)")
    distill.add_argument("--alpha", type=float, default=None,
                         help="weight of the distillation term, from 0 to 1; cross-entropy gets 1 - alpha "
                              "(default: 0.9)")
    distill.add_argument("--seed", type=int, default=None, help="training seed (default: the run's seed)")
    distill.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")

    export = commands.add_parser("export", help="write the best student of a run as a JSON spec, safetensors "
                                                "weights and TorchScript")
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("--out", required=True, metavar="DIR", help="output directory")

    score = commands.add_parser("score", help="score architectures with proxies, without searching, and write "
                                              "a table")
    score.add_argument("archs", nargs="*", metavar="ARCH", help="architectures in the space's string form")
    score.add_argument("--file", default=None, help="text file with one architecture per line (blank lines and "
                                                    "lines starting with # are skipped)")
    score.add_argument("--proxy", default=None, help="comma-separated proxy names (default: diswot for image spaces, "
                                                     "minilm_relation for text spaces)")
    score.add_argument("--space", default="nb201", help="search space name (default: nb201)")
    _add_space_option(score)
    score.add_argument("--data", default=None, help="data spec, as for `archsearch search` (default: digits, or "
                                                    "pydoc_data.topics for text spaces)")
    score.add_argument("--download", action="store_true",
                       help="download a missing CIFAR archive into the --data folder (needs internet access)")
    score.add_argument("--teacher", default=None, help="teacher spec, as for `archsearch search` (default: demo; text "
                                                       "spaces need hf:PATH)")
    score.add_argument("--teacher-checkpoint", default=None, metavar="FILE",
                       help="state dict for a timm:NAME teacher")
    score.add_argument("--seed", type=int, default=0, help="seed of the scoring batch and initialisation (default: 0)")
    score.add_argument("--batch-size", type=_positive_int, default=64,
                       help="images (or text passages) in the scoring minibatch (default: 64)")
    score.add_argument("--workers", type=_positive_int, default=1,
                       help="processes that score in parallel (default: 1)")
    score.add_argument("--latency", action="store_true",
                       help="add a latency_ms column: the median time of one forward pass, in milliseconds, over "
                            "10 timed passes after 3 warm-up passes (slow; needs --workers 1)")
    score.add_argument("--latency-batch-size", type=_positive_int, default=None, metavar="N",
                       help="inputs per timed forward pass of --latency (default: 1)")
    score.add_argument("--out", default=None, metavar="FILE",
                       help="write the table as CSV to FILE (default: print it)")
    score.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")

    commands.add_parser("list", help="list search spaces, proxies and searchers")

    spaces = commands.add_parser("spaces", help="show each search space's size, default options and "
                                                "dimensions (decisions and their choices)")
    spaces.add_argument("names", nargs="*", metavar="SPACE", help="search spaces to show (default: all)")
    _add_space_option(spaces)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
    except UsageError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    if arguments.command is None:
        parser.print_help()
        return EXIT_USAGE

    _configure_logging(arguments.quiet)
    if arguments.threads is not None:
        import torch

        torch.set_num_threads(arguments.threads)
    from archsearch import commands

    handler = getattr(commands, f"run_{arguments.command}")
    try:
        return handler(arguments)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, ImportError) as error:
        print(f"archsearch {arguments.command}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as error:
        print(f"archsearch {arguments.command}: {_interrupted_message(error)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - one line instead of a traceback, unless --debug
        if arguments.debug:
            raise
        print(f"archsearch {arguments.command}: failed: {type(error).__name__}: {_one_line(error)} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILURE


def _interrupted_message(error: KeyboardInterrupt) -> str:
    """Return what an interrupted command saved: a search names its run directory, other commands save nothing."""
    run_dir = getattr(error, "run_dir", None)
    if run_dir is None:
        return "interrupted before any result was saved"
    return (f"interrupted; the {error.records} finished records are saved in {run_dir}, and "
            f"`archsearch resume {run_dir}` continues the search")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _configure_logging(quiet: bool) -> None:
    # The archsearch logger gets its own handler and does not propagate, so a user's root
    # configuration neither duplicates nor hides the command's lines.
    logger = logging.getLogger("archsearch")
    if not any(getattr(handler, "_archsearch_cli", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._archsearch_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


if __name__ == "__main__":
    sys.exit(main())
