"""The receiver's conditional generators and sampler: the embedded diffusion UNet, its conditions, the hub pipelines."""
