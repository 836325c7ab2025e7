"""Transmission schemes, one module each; ``base`` holds the contract and the registry,
which imports the scheme modules listed in ``base.SCHEME_MODULES`` on first use."""
