"""Scores computed across components: word-level scores of the old project and whole-pipeline evaluation."""
