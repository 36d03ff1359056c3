"""Calibration: the microbenchmark suite (``suite.toml``), running it under a meter, fitting a profile."""
