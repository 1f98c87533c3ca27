"""Per-study extraction for the report: one function per study, `Results -> dict` of formatted strings, booleans
for the conditional text, tables ({header, rows, align}) and figure paths. A missing key raises MissingResult
(the section is then marked incomplete, naming the key). Nothing here is typed in by hand: every number is
read from metrics.json, a study's summary.json or config.json."""

from mnistlab.deliverables.sections.basics import pca, perceptron
from mnistlab.deliverables.sections.insight import viz
from mnistlab.deliverables.sections.mtl import mtl
from mnistlab.deliverables.sections.networks import cnn, mlp

__all__ = ["cnn", "mlp", "mtl", "pca", "perceptron", "viz"]
