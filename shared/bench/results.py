"""Where a benchmark's figures go: one JSON file, its folder made, the path said."""
from __future__ import annotations

import json
from pathlib import Path


def write_result(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"written to {path}", flush=True)
