"""Finding hub weights on this machine, with one clear error when they are not here.

Hub backends load with ``from_pretrained(local_dir)``. :func:`resolve` turns
a hub id or a local path into a local directory *without touching the
network*: a directory path is used as is; a hub id is looked up in the
local mirror folder ``$SEMCOM_HUB_DIR/<owner>/<name>`` when set, then in the user's semcom cache
(``$SEMCOM_CACHE``, default ``~/.cache/semcom``, where ``semcom models fetch`` puts files that do
not come from the Hugging Face hub), then in the Hugging Face cache (``HF_HOME`` / ``HF_HUB_CACHE``).
When none has it, :class:`WeightsNotFound` says, in one line, how to provide it.

Files that are unpickled (``.pth``) are first checked against the SHA-256 pinned in the
registry (:func:`verified`) and then loaded with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from shared.cli import UsageError

MIRROR_ENV = "SEMCOM_HUB_DIR"  # a folder of <owner>/<name>/ directories saved with save_pretrained, searched before the cache
CACHE_ENV = "SEMCOM_CACHE"  # the user's semcom cache; default ~/.cache/semcom (XDG's usual place)


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
    if (user_cache() / source / marker).is_file():
        return user_cache() / source
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


def user_cache() -> Path:
    """``$SEMCOM_CACHE/hub`` (default ``~/.cache/semcom/hub``): hub files fetched outside the Hugging Face hub."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "semcom").expanduser() / "hub"


class WeightsTampered(UsageError):
    """A weights file whose SHA-256 is not the one pinned in the registry: never loaded (one line, exit 2)."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified(model: str, path: Path, sha256: str) -> Path:
    """``path`` when its SHA-256 is the pinned ``sha256``; WeightsNotFound if missing, WeightsTampered if different."""
    if not path.is_file():
        raise WeightsNotFound(model, str(path))
    got = sha256_of(path)
    if got != sha256:
        raise WeightsTampered(f"model '{model}': {path} has SHA-256 {got[:16]}..., not the pinned {sha256[:16]}...; "
                              f"refusing to load it (re-fetch it with 'semcom models fetch {model}')")
    return path


def fetch_files(model: str, hub_id: str, upstream: str, files: dict[str, str], timeout_s: float = 30.0) -> Path:
    """Download ``files`` (name -> pinned SHA-256) from ``upstream/<name>`` into the user cache, checking
    each hash before it is kept; return the folder. Network errors are OSErrors (the caller says what to do)."""
    import urllib.request

    folder = user_cache() / hub_id
    folder.mkdir(parents=True, exist_ok=True)
    for name, digest in files.items():
        target = folder / name
        if target.is_file() and sha256_of(target) == digest:
            continue
        partial = target.with_suffix(target.suffix + ".partial")
        with urllib.request.urlopen(f"{upstream}/{name}", timeout=timeout_s) as response, open(partial, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        if sha256_of(partial) != digest:
            partial.unlink()
            raise WeightsTampered(f"model '{model}': the downloaded {name} does not match its pinned SHA-256; not kept")
        partial.replace(target)
    return folder


@dataclass(frozen=True)
class PinnedFile:
    """A model that is one upstream file, pinned by SHA-256 (a registry row's config derives from this)."""

    weights_file: str  # the file's name inside the hub folder (and at the upstream)
    sha256: str  # its pinned SHA-256: checked before anything reads the file
    upstream: str  # base URL of the pinned commit: upstream + "/" + weights_file downloads it

    def files(self) -> dict[str, str]:
        """File name -> pinned SHA-256 (what ``semcom models fetch`` downloads)."""
        return {self.weights_file: self.sha256}

    def checked_path(self, model: str, source: str | None) -> Path:
        """The file in ``source`` (a hub id or a folder), found offline and checked against its pinned hash."""
        return verified(model, resolve(model, source or "", marker=self.weights_file) / self.weights_file, self.sha256)
