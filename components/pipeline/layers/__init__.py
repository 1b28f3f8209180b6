"""Layers and helpers the components share: encoders, span pooling, torch state I/O, listener updates, model defaults."""
