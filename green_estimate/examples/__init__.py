"""Bundled example models (plain files, usable as ``green-estimate count <path>``)."""
