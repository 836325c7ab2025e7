"""Every trainer of the embedded weights, the corpus loader and the run options; ``semcom train``. Never imported by the services."""
