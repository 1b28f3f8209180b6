"""Ranking unannotated abstracts by what a trained pipeline is unsure of (`fgen-suggest`), and
adding new annotations to the corpus (`scripts/add_annotations.py`)."""
