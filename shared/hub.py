"""Finding hub weights on this machine, with one clear error when they are not here.

Hub backends load with ``from_pretrained(local_dir)``. :func:`resolve` turns
a hub id or a local path into a local directory *without touching the
network*: a directory path is used as is; a hub id is looked up in the
local mirror folder ``$SEMCOM_HUB_DIR/<owner>/<name>`` when set, then in the Hugging Face cache
(``HF_HOME`` / ``HF_HUB_CACHE``). When neither has it,
:class:`WeightsNotFound` says, in one line, how to provide it.
"""
from __future__ import annotations

import os
from pathlib import Path

from shared.cli import UsageError

MIRROR_ENV = "SEMCOM_HUB_DIR"  # a folder of <owner>/<name>/ directories saved with save_pretrained, searched before the cache


class WeightsNotFound(UsageError):
    """Hub weights that are not on this machine (a one-line, user-facing error).

    A :class:`~shared.cli.UsageError`, so every ``semcom`` command reports it
    as one line and exit status 2 instead of a library traceback.
    """

    def __init__(self, model: str, source: str):
        self.model, self.source = model, source
        super().__init__(
            f"model '{model}' needs the hub weights '{source}', which are not on this machine; "
            f"provide them by pointing HF_HOME at a Hugging Face cache that holds them, or {MIRROR_ENV} at a folder "
            f"holding <owner>/<name> directories, "
            f"by passing a local directory saved with save_pretrained as its source (e.g. --source {model}=DIR), "
            f"or by running 'semcom models fetch {model}' on a machine with hub access and copying its cache here"
        )


def resolve(model: str, source: str, marker: str = "config.json") -> Path:
    """Local directory for ``source`` (a directory path or a hub id), offline.

    Args:
        model: the registry name, used in the error message.
        source: a local directory, or a hub id such as ``"nvidia/segformer-b0-finetuned-ade-512-512"``.
        marker: the file a directory must hold (``model_index.json`` for a diffusers pipeline).

    Raises:
        WeightsNotFound: ``source`` is neither a directory holding a ``config.json``
            nor a hub id present in the local cache.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / marker).is_file():
            raise WeightsNotFound(model, f"{source} (a directory without {marker})")
        return path
    if path.suffix or source.startswith((".", "/", "~")) or source.count("/") != 1:
        raise WeightsNotFound(model, source)  # a path that does not exist, not a hub id
    mirror = os.environ.get(MIRROR_ENV)
    if mirror and (Path(mirror) / source / marker).is_file():
        return Path(mirror) / source
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(source, local_files_only=True))
    except LocalEntryNotFoundError:
        raise WeightsNotFound(model, source) from None


def fetch(source: str, cache_dir: Path | None = None) -> Path:
    """Download a hub snapshot into the cache (needs hub access); return its directory."""
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(source, cache_dir=cache_dir))
