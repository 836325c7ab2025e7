"""Side information of the generative schemes, coded exactly and counted.

``maps`` (lossless label maps and masks), ``text`` (captions), ``lowres``
(SPIC's low-resolution image), ``bundle`` (one frame's parts), ``budget``
(bits and channel uses) and ``reuse`` (what need not be re-sent in video).
"""
