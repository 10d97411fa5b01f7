"""Test and benchmark fixtures: synthetic scenes with ground truth, an in-memory frame source and
the replay backend. Not part of the tool: the CLI offers none of it."""
