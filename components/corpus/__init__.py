"""The corpus layer, where data enters: annotation schemes, tokenizer rules, MAE XML read/write, MAE ⇄ Doc, conversion to DocBin and splits."""
