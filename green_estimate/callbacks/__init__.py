"""Training-loop callbacks: predict a fit at its start, measure it, record it for calibration.

``green_estimate.callbacks.lightning.GreenEstimateCallback`` (PyTorch Lightning) and
``green_estimate.callbacks.hf.GreenEstimateCallback`` (the Hugging Face ``Trainer``); importing this
package imports neither framework. See docs/callbacks.md.
"""
