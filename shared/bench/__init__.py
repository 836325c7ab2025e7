"""``semcom bench``: speed, measured the way users care.

* :mod:`.pipeline_bench`: the real three-process pipeline over TCP loopback,
  per-link latency percentiles, sustained frames per second, dropped frames;
* :mod:`.proxy_throughput`: complex symbols per second through the channel
  proxy, beside a plain ZeroMQ transfer of the same bytes (the bound);
* :mod:`.codec_timing`: each scheme's encode and decode time per frame;
* :mod:`.hardware`: what it all ran on.
"""
