"""A warm spare: a process that has paid a fresh service's imports and waits to become whichever service crashes.

A fresh receiver or transmitter spends seconds importing torch, every scheme and the LDPC and QAM library
before its first frame (3-6 s on two cores); that, not the network, is what a restart costs. The launcher
keeps one spare (``python -m shared.spare``) beside the three services; when one of them crashes it writes
one JSON line to the spare's stdin, ``{"service": "receiver", "argv": [...]}``, and the spare runs that
service's own command line in place, in about a tenth of a second. End of input: the spare exits 0.
"""
from __future__ import annotations

import importlib
import json
import sys

SERVICE_MODULES = {"receiver": "receiver", "proxy": "channel_proxy", "transmitter": "transmitter"}
READY_LINE = "semcom spare: standing by"  # on stderr once the imports are paid: the launcher knows the spare is warm


def import_what_services_need() -> None:
    """The imports a fresh receiver or transmitter pays before its first frame (the proxy needs a subset)."""
    from shared.schemes.base import scheme_names

    scheme_names()  # every scheme module, and torch with them
    importlib.import_module("sionna.phy.fec.ldpc")  # the digital link's LDPC and QAM, imported on first use
    importlib.import_module("sionna.phy.mapping")
    for module in SERVICE_MODULES.values():
        importlib.import_module(f"{module}.__main__")


def read_role(line: str) -> tuple[str, list[str]]:
    """The service to become and its command line, from the launcher's one line; ValueError if malformed."""
    order = json.loads(line)
    if not isinstance(order, dict) or set(order) != {"service", "argv"}:
        raise ValueError("expected {\"service\": ..., \"argv\": [...]}")
    service, argv = order["service"], order["argv"]
    if service not in SERVICE_MODULES or not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise ValueError(f"no service {service!r}, or its argv is not a list of strings")
    return service, argv


def main() -> int:
    import_what_services_need()
    print(READY_LINE, file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:  # the launcher has gone, or stopped the run
        return 0
    try:
        service, argv = read_role(line)
    except ValueError as exc:
        print(f"semcom spare: error: {exc}", file=sys.stderr)
        return 2
    print(f"semcom spare: taking over as the {service}", file=sys.stderr, flush=True)  # its logging is the service's
    return importlib.import_module(f"{SERVICE_MODULES[service]}.__main__").main(argv)


if __name__ == "__main__":
    from shared.cli import exit_now

    exit_now(main())
