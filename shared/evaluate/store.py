"""Resumable results: the run's config in ``run.json``, its rows appended to ``rows.jsonl``.

A row is appended (and flushed) as soon as it is measured, so an interrupted run loses at most
the row in flight. A rerun into the same folder skips the keys already there, but only when its
config is the same; a different config is refused while rows exist (with ``fresh``, they go).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

CONFIG_FILE = "run.json"
ROWS_FILE = "rows.jsonl"
RECON_DIR = "recon"


class ConfigMismatch(ValueError):
    """The output folder holds the results of a run with another config."""


def _normalise(config: dict) -> dict:
    return json.loads(json.dumps(config, sort_keys=True))  # tuples -> lists, as read back from disk


class RunStore:
    def __init__(self, out: Path, config: dict, fresh: bool = False):
        self.out = Path(out)
        self.config = _normalise(config)
        self.rows_path = self.out / ROWS_FILE
        self.recon_dir = self.out / RECON_DIR
        config_path = self.out / CONFIG_FILE
        if fresh:
            self.rows_path.unlink(missing_ok=True)
            config_path.unlink(missing_ok=True)
            if self.recon_dir.is_dir():
                shutil.rmtree(self.recon_dir)
        if config_path.is_file() and self.rows_path.is_file() and self.rows_path.stat().st_size:
            old = json.loads(config_path.read_text())
            if old != self.config:
                differ = sorted(k for k in set(old) | set(self.config) if old.get(k) != self.config.get(k))
                raise ConfigMismatch(
                    f"{self.out} holds results of a different run (differs in: {', '.join(differ)}); "
                    "pass --fresh to discard them, or choose another --out"
                )
        self.out.mkdir(parents=True, exist_ok=True)
        self.recon_dir.mkdir(exist_ok=True)
        config_path.write_text(json.dumps(self.config, indent=2, sort_keys=True) + "\n")
        self.rows: dict[str, dict] = self._load()

    def _load(self) -> dict[str, dict]:
        """The rows already measured, by key; a half-written last line (an interrupt) is cut off."""
        if not self.rows_path.is_file():
            return {}
        text = self.rows_path.read_text()
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
            self.rows_path.write_text(text)
        rows = (json.loads(line) for line in text.splitlines() if line.strip())
        return {row["key"]: row for row in rows}

    def append(self, row: dict) -> None:
        with self.rows_path.open("a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
        self.rows[row["key"]] = row
