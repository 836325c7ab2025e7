"""``semcom eval``: every (scheme, rate point, channel, SNR, image, repeat) through the one
encode -> channel -> decode path of :mod:`shared.pipeline`, measured with :mod:`shared.metrics`.

Modules, one concept each:
  grid           the run grid: SNR lists, swept scheme parameters, jobs and their keys and seeds
  images         the evaluation images (builtin photos or a folder)
  store          rows appended as JSONL as they finish; resume only into the same run config
  runner         runs the jobs and measures each one
  report         results.csv / results.json and the printed summary table
  plots          metric vs SNR (one figure per channel) and metric vs CBR (when rates are swept)
  contact_sheet  reconstructions, (image, scheme) x SNR, one sheet per channel
  cli            the command line, ``main(argv)``
"""
