"""Schemes, one module each; importing this package registers them all."""
from shared.schemes import digital  # noqa: F401
from shared.schemes.base import SCHEMES, DecodeFailure, get_scheme, scheme_names  # noqa: F401
