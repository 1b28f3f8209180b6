"""fgen_ner: entity tagger (PyTorch emission head + linear-chain CRF) on a shared tok2vec."""
