"""The transmitter's semantic roles: segmenters, key-region selectors and captioners (embedded and hub)."""
