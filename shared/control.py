"""Control of a running stream: switch its scheme, change its parameters, its channel model and SNR, without a restart.

The messages are in :mod:`shared.protocol` (:class:`ControlRequest`, :class:`ControlRecord`). The path
(each hop validates what it gets, as every other message):

1. the viewer (:mod:`receiver.viewer`) takes a :class:`ControlRequest` from the page and checks it
   against what the receiver knows of the stream (:func:`resolve_scheme`): an unknown scheme, a
   parameter its scheme does not take, an SNR out of range is refused there with a clear error;
2. the receiver sends it to the transmitter on the authenticated feedback link (a ``control``
   feedback message);
3. the transmitter resolves it again against its own scheme, builds the new encoder, and probes the
   receiver with it (the receiver prepares the decoder, or refuses with its reason); only then does
   it switch. Either way it sends a :class:`ControlRecord` (what it did, and why not) in band, as a
   ``control`` message through the proxy, before the first frame of the new setting;
4. the proxy applies the record's channel change from the next frame on (:func:`apply_channel`) and
   passes the record on; the receiver keeps the last records for the page.

In band, the change takes effect exactly between two frames on every hop.
"""
from __future__ import annotations

from pydantic import ValidationError

from shared.config import ChannelConfig
from shared.protocol import ChannelUpdate, ControlRequest, first_error


def parse_request(obj: object) -> ControlRequest:
    """A control request from JSON-like data; ValueError in one line (the page shows it) if it is not one."""
    try:
        return ControlRequest.model_validate(obj)
    except ValidationError as exc:
        raise ValueError(first_error(exc).removeprefix("Value error, ")) from None


def nest_params(flat: dict) -> dict:
    """``{"link.modulation": "qpsk"}`` -> ``{"link": {"modulation": "qpsk"}}``: dotted keys nest, as with --param."""
    nested: dict = {}
    for key, value in flat.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"parameter {key!r}: {part!r} is not a group")
        node[leaf] = value
    return nested


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def resolve_scheme(current: str, current_params: dict, request: ControlRequest) -> tuple[str, dict]:
    """The scheme and validated parameters a request leads to, as a JSON-able dict. The same scheme keeps
    its current parameters under the new ones; another scheme starts from its defaults. ValueError, in
    words a user can act on, for an unknown scheme or a parameter it refuses."""
    from shared.schemes.base import get_scheme

    spec = get_scheme(request.scheme or current)  # ValueError naming the schemes there are
    base = current_params if spec.name == current else {}
    try:
        params = spec.params.model_validate(_merge(base, nest_params(request.params or {})))
    except ValidationError as exc:
        raise ValueError(f"scheme {spec.name}: {first_error(exc)}") from None
    return spec.name, params.model_dump(mode="json")


def apply_channel(config: ChannelConfig, update: ChannelUpdate) -> ChannelConfig:
    """The proxy's channel after ``update`` (a set SNR is constant from then on)."""
    changes = {k: v for k, v in update.model_dump().items() if v is not None}
    if "snr_db" in changes:
        changes["snr_schedule"] = "const"
    return ChannelConfig.model_validate({**config.model_dump(), **changes})
