"""Models of the transmitter's four roles, and the one table that names them.

* ``base``: the role interfaces (Segmenter, KeyRegionSelector, Captioner, LatentCodec).
* ``registry``: the table name -> (role, backend, class, config, weights); ``load_model``.
* ``hub``: offline resolution of hub weights; ``WeightsNotFound``.
* embedded backends: ``segment_regions``, ``keyregions``, ``caption_structured``,
  ``latent_conv`` (+ ``train_latent``), ``efficientnet_lite0``.
* hub backends: ``segment_segformer``, ``caption_blip``, ``latent_diffusers``.
* ``cli``: ``semcom models list|fetch``.
"""
