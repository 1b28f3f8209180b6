"""What the corpus holds and how far annotators agree: corpus statistics and inter-annotator agreement."""
