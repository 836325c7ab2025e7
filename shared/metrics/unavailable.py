"""The one exception for a metric that cannot run on this machine (missing package or weights)."""


class MetricUnavailable(RuntimeError):
    """Raised when a metric's package or weights are absent here.

    Callers report the metric as unavailable, with this message as the reason; they never
    substitute another metric under its name.
    """
