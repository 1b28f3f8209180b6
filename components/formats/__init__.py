"""fgen's file formats, one module each, read and written in one place: the record types they
share (`records`), plain text (`text`), JSONL records (`jsonl`), PubMed XML (`pubmed`), MAE XML
(`mae`, and MAE ⇄ Doc in `mae_doc`), Parquet (`parquet`), HTML (`html`), DocBin (`docbin`), BioC
XML and JSON (`bioc`), PubTator (`pubtator`); which reader reads an input (`readers`) and which
writer writes an output (`writers`). Nothing here imports `fgen.annotate`: corpus/, annotate/ and
explore/ build on these modules, not the reverse.
"""
