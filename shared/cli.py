"""The ``semcom`` command: one entry point, one subcommand per tool.

Each subcommand lives in its own module that exposes ``main(argv) -> int``;
this dispatcher imports it lazily, so ``semcom --help`` stays fast and a
subcommand pays only for the libraries it uses.

Command-line errors follow one rule everywhere: one line on stderr, exit 2,
never a traceback (:class:`CliParser` and :class:`UsageError`).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Callable, NoReturn, Sequence

# name -> (module with main(argv), one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("shared.demo", "run transmitter, channel proxy and receiver as three processes; report per-link latency"),
    "transmitter": ("transmitter.__main__", "the transmitter service: frames -> semantics -> channel symbols"),
    "proxy": ("channel_proxy.__main__", "the channel proxy service: noise, fading, erasure, delay"),
    "receiver": ("receiver.__main__", "the receiver service: equalise, decode, reconstruct"),
    "eval": ("shared.evaluate.cli", "sweep schemes x channels x SNRs x images: tables, plots, contact sheets (resumable)"),
    "bench": ("shared.bench.cli", "speed: per-link latency p50/p95/p99, sustained fps, proxy symbols/s vs plain ZeroMQ, encode/decode timings; JSON"),
    "inspect": ("shared.inspect", "show what the transmitter extracts from one image, and its bit budget"),
    "models": ("shared.registry.cli", "list the models (role, backend, size, available here); fetch hub weights"),
    "keys": ("shared.security", "make the CURVE key pairs that authenticate and encrypt the links (z85, secret 0600)"),
    "train": ("shared.training.cli", "train an embedded model (progress bar, checkpoints, resume, validation)"),
}


class UsageError(Exception):
    """A bad command line found after parsing (a missing file, a dead webcam)."""

    exit_code = 2


class StartupFailure(UsageError):
    """A service could not begin its work for a reason outside its command line (no answer from
    its peer, a stream refused): the same one line, exit status 1."""

    exit_code = 1


class CliParser(argparse.ArgumentParser):
    """argparse with a one-line error and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def run_cli(prog: str, body: Callable[[], int]) -> int:
    """Run a command body, turning a :class:`UsageError` into one line and exit 2 (1 for a StartupFailure),
    and an interrupt into one line and exit 130."""
    try:
        return body()
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # Ctrl-C (or the demo stopping it) before the command set its own handler: no traceback
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def dispatch(prog: str, description: str, table: dict[str, tuple[str, str]], argv: Sequence[str]) -> int:
    """Run ``table[argv[0]]``'s ``main(argv[1:])``; the module is imported only when chosen."""
    argv = list(argv)
    parser = CliParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {n:<12} {h}" for n, (_, h) in table.items())
        + f"\n\nRun '{prog} COMMAND --help' for a command's options.",
    )
    parser.add_argument("command", choices=sorted(table), metavar="COMMAND")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    if not argv:
        parser.print_help()
        return 2
    if argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    ns = parser.parse_args(argv[:1])
    module = importlib.import_module(table[ns.command][0])
    return int(module.main(argv[1:]) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch("semcom", "Generative semantic communication for images and video.", COMMANDS,
                    sys.argv[1:] if argv is None else argv)


ZMQ_TERM_WAIT_S = 5.0  # longest wait for ZeroMQ to send what closed sockets still hold (their linger is 2 s)


def exit_now(code: int) -> None:
    """End the process with ``code`` once ZeroMQ has delivered what its closed sockets still hold (an
    end of stream), and logs and output are flushed, skipping the interpreter's teardown of torch
    and Sionna (1-2 s of garbage collection): a stopped command is gone at once."""
    zmq = sys.modules.get("zmq")
    if zmq is not None and getattr(zmq.Context, "_instance", None) is not None:
        import threading

        term = threading.Thread(target=zmq.Context.instance().term, daemon=True)  # blocks while a linger lasts
        term.start()
        term.join(ZMQ_TERM_WAIT_S)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def entry() -> None:
    """The ``semcom`` console script."""
    exit_now(main())


if __name__ == "__main__":
    entry()
