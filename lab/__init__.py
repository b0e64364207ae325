"""The offline lab: reader training, calibration and evaluation; it imports the serving path, never the reverse."""
