"""Heartbeats, as in ZeroMQ's Paranoid Pirate pattern: each side hears the other at least every
``HEARTBEAT_INTERVAL_S``, and a peer silent for ``HEARTBEAT_LIVENESS`` intervals is presumed gone.

* The transmitter sends a heartbeat (a control message, through the proxy) when it has sent
  nothing for an interval; the receiver answers every interval on the feedback link with the
  sequence number of the newest transmitter heartbeat it heard. An ack or an echo proves the
  whole path (transmitter -> proxy -> receiver -> transmitter) works.
* A transmitter that has no proof for ``HEARTBEAT_LIVENESS`` intervals (or its ack timeout, if a
  slow decoder makes that longer) counts an outage, recreates its sockets and probes until the
  receiver answers again; the outage and the frames it cost are in its statistics.
* A receiver that hears nothing from upstream for ``HEARTBEAT_LIVENESS`` intervals recreates its
  input socket: libzmq does not reconnect a connection it closed for a protocol error (say, a
  message over the size limit), so without this one bad message could silence it for good.
"""
from __future__ import annotations

import time

HEARTBEAT_INTERVAL_S = 1.0  # Paranoid Pirate's default: a lost peer is noticed within seconds
HEARTBEAT_LIVENESS = 3  # intervals of silence before a peer is presumed gone


class Silence:
    """How long since a peer was last heard, on the monotonic clock."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.last = clock()

    def heard(self) -> None:
        self.last = self.clock()

    def seconds(self) -> float:
        return self.clock() - self.last

    def expired(self, limit_s: float = HEARTBEAT_LIVENESS * HEARTBEAT_INTERVAL_S) -> bool:
        return self.seconds() > limit_s
