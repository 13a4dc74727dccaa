"""Example apps built on backburner: `examples.seeds` rebuilds the five seed apps' workflows
(docs/examples.md). Run them with ``backburner demo`` from the repository root."""
