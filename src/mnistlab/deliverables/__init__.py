"""The deliverables built from a finished run folder: the executed notebook (`notebook.execute`), the PDF report
(`build.build`, Typst + Arimo) and the submission bundle (`bundle.build`). They only read the run's files:
every number comes from `metrics.json` and the studies' `summary.json`, every figure from their `figures/`."""
