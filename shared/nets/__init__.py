"""Network building blocks: the JSCC networks, EfficientNet-Lite0, residual blocks, and their weights-file format."""
