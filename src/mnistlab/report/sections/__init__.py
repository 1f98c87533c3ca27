"""Per-study extraction for the report: one function per study, `Results -> dict` of formatted strings, booleans
for the conditional text, tables ({header, rows, align}) and figure paths. A missing key raises MissingResult
(the section is then marked incomplete, naming the key). Nothing here is typed in by hand: every number is
read from metrics.json, a study's summary.json or config.json."""

from mnistlab.report.sections.basics import pca, perceptron
from mnistlab.report.sections.insight import viz
from mnistlab.report.sections.mtl import mtl
from mnistlab.report.sections.networks import cnn, mlp

__all__ = ["cnn", "mlp", "mtl", "pca", "perceptron", "viz"]
