"""The trainable pipeline components, one folder each (model, component, scorer), and the layers they share."""
