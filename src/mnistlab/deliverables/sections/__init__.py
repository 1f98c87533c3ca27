"""Per-study extraction for the report: one module per study, each with one function of the study's name,
`Results -> dict` of formatted strings, booleans for the conditional text, tables ({header, rows, align}) and
figure paths; `common` holds what they share. A missing key raises MissingResult (the section is then marked
incomplete, naming the key). Nothing here is typed in by hand: every number is read from metrics.json, a study's
summary.json or config.json.

`sections.<study>` is that function (context.py calls it by name), so the name no longer reaches the module: import
a module's helpers with `from mnistlab.deliverables.sections.<study> import ...`."""

from mnistlab.deliverables.sections.cnn import cnn
from mnistlab.deliverables.sections.mlp import mlp
from mnistlab.deliverables.sections.mtl import mtl
from mnistlab.deliverables.sections.pca import pca
from mnistlab.deliverables.sections.perceptron import perceptron
from mnistlab.deliverables.sections.viz import viz

__all__ = ["cnn", "mlp", "mtl", "pca", "perceptron", "viz"]
