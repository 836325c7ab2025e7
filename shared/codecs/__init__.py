"""Latent codecs (image <-> latent: embedded conv autoencoder, diffusers VAEs) and the frame <-> latent helpers of the schemes."""
