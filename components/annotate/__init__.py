"""Annotating new abstracts with a trained pipeline: inputs, journal, outputs, the run loop, pipeline loading."""
