"""Measured whole training runs: the runs file, importers from other tools' outputs, and the runs model
that ``calibrate --from-runs`` fits to them (see docs/calibration.md, "A profile from measured runs")."""
