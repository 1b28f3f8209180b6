"""Small helpers shared by the package and the scripts: atomic writes, console messages, Markdown tables, figures."""
