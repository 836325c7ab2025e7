"""``semcom models``: list the model table, fetch hub weights on a machine with access.

    semcom models list [--json]
    semcom models fetch NAME [--cache-dir DIR]
"""
from __future__ import annotations

import json

from shared.cli import CliParser, UsageError, run_cli
from shared.hub import CACHE_ENV, MIRROR_ENV, fetch, fetch_files, user_cache
from shared.registry.table import MODELS, availability, get_spec, weights_bytes

PROG = "semcom models"


def list_rows() -> list[dict]:
    """One row per model: name, role, backend, default, weights size, available here, source."""
    rows = []
    for name, spec in MODELS.items():
        ok, where = availability(name)
        size = weights_bytes(name)
        rows.append({"name": name, "role": spec.role, "backend": spec.backend, "default": spec.default,
                     "weights_mb": None if size is None else round(size / 1e6, 2), "available": ok,
                     "source": where, "summary": spec.summary})
    return rows


def format_rows(rows: list[dict]) -> str:
    head = f"{'name':<24} {'role':<13} {'backend':<9} {'size':>9} {'here':<5} summary"
    lines = [head, "-" * len(head)]
    for r in rows:
        size = "-" if r["weights_mb"] is None else ("none" if r["weights_mb"] == 0 else f"{r['weights_mb']:.1f} MB")
        name = r["name"] + (" *" if r["default"] else "")
        lines.append(f"{name:<24} {r['role']:<13} {r['backend']:<9} {size:>9} {'yes' if r['available'] else 'no':<5} {r['summary']}")
        if not r["available"]:
            lines.append(f"{'':<24} -> {r['source']}")
    lines.append("* = the role's default (embedded: works offline)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog=PROG, description="The model table: every role's hub and embedded backends.")
    sub = parser.add_subparsers(dest="action", required=True)
    p_list = sub.add_parser("list", help="every model, its role, backend, size and whether it is available here")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_fetch = sub.add_parser("fetch", help="download a hub model into its cache, checking pinned hashes (needs network access)")
    p_fetch.add_argument("name", help="model name from 'semcom models list'")
    p_fetch.add_argument("--cache-dir", default=None, help="Hugging Face models: cache folder (default: HF_HOME's); "
                         "hash-pinned files go to $SEMCOM_CACHE/hub (default ~/.cache/semcom/hub)")
    args = parser.parse_args(argv)

    def body() -> int:
        if args.action == "list":
            rows = list_rows()
            print(json.dumps(rows, indent=1) if args.json else format_rows(rows))
            return 0
        spec = get_spec(args.name)
        if spec.backend != "hub":
            raise UsageError(f"model '{args.name}' is embedded: its weights ship with semcom, nothing to fetch")
        files = getattr(spec.config, "files", None)  # a model whose files come from an upstream repository, hash-pinned
        try:
            path = (fetch_files(args.name, spec.weights, spec.config.upstream, files()) if files
                    else fetch(spec.weights, args.cache_dir))
        except OSError as exc:  # urllib's, requests' and huggingface_hub's connection errors are OSErrors
            where = (f"{user_cache() / spec.weights} (or {MIRROR_ENV}/{spec.weights}, or set {CACHE_ENV})" if files
                     else "a Hugging Face cache (HF_HOME)")
            raise UsageError(f"could not download '{spec.weights}' (no network here?): {type(exc).__name__}; run "
                             f"'semcom models fetch {args.name}' on a machine with access and copy the files to {where}") from None
        print(f"fetched {spec.weights} -> {path}")
        return 0

    return run_cli(PROG, body)


if __name__ == "__main__":
    raise SystemExit(main())
