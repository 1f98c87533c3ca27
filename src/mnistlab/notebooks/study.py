# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Foundations of deep learning on MNIST and Fashion-MNIST
#
# This notebook is the executed companion of the report. It holds no logic of its own: every cell calls the
# `mnistlab` package, and the numbers, tables and figures are those of one finished run, read from the run folder
# the notebook was executed in (`mnistlab notebook --run DIR`). Nothing is retrained here; where a model is used,
# it is loaded from the run's checkpoint. To reproduce the run itself: `mnistlab run` (see the README).

# %%
from mnistlab.report import nbtools
from mnistlab.report.nbtools import show_source

run = nbtools.Run(".")  # the notebook is executed inside the run folder
run.overview()

# %% [markdown]
# ## Task 1: PCA of MNIST
#
# The 60,000 training images are flattened to 784-vectors and projected on the first two principal components.
# The figures show the 2-D scatter coloured by digit, the explained-variance spectrum, how much each pair of digits
# overlaps in the PC1/PC2 plane, and the leading components as images.

# %%
show_source("mnistlab.studies.pca:fit_pca", "mnistlab.studies.pca:pair_overlap")

# %%
run.show("pca")

# %% [markdown]
# ## Task 2: the perceptron (NumPy only)
#
# `predict` returns sign(x.w + b) as -1/+1; `optimize` applies the perceptron rule until the training error falls
# to 1e-3 or `max_iter` is reached, and records the error per iteration. Both are plain NumPy.

# %%
nbtools.diagram("perceptron")
show_source("mnistlab.models.perceptron:predict", "mnistlab.models.perceptron:optimize")

# %%
run.show("perceptron")

# %% [markdown]
# ## Task 3: multi-layer perceptrons
#
# 3.1 is the brief's [784, 1000, 1000, 10] network with ReLU, softmax cross-entropy and Adam; 3.2 compares deeper
# networks. The builder below makes every MLP of the study.

# %%
show_source("mnistlab.models.mlp:build_mlp")

# %%
run.show("mlp")

# %% [markdown]
# ## Task 4: convolutional networks
#
# 4.1 has three 'same'-padded 4x4 convolutions with 32, 64 and 128 filters and strides 1, 2, 2, then one dense
# layer; 4.2 varies depth and width and compares the CNNs with the MLPs.

# %%
nbtools.diagram("cnn41")
show_source("mnistlab.models.cnn:same_padding", "mnistlab.models.cnn:build_cnn")

# %%
run.show("cnn")

# %% [markdown]
# The trained 4.1 network is reused, not retrained: its weights are loaded from the run's checkpoint (the cnn
# study's, or the copy the visualisation study trained when the cnn study was not run) and it classifies the two
# test digits that the visualisation study looks at, test images 1 (a '2') and 7 (a '9').

# %%
cnn41 = nbtools.load_model(run, "cnn_4_1", "cnn/4_1/model.pt", "viz/cnn_4_1/model.pt")
nbtools.classify_test_images(run, cnn41, (1, 7))

# %% [markdown]
# ## Task 5: visualising the CNN of 4.1
#
# Filters of every conv layer, activation maps for a test '2' and a test '9', and DeepDream images that maximise
# the logit of class 2 or 9, scored by the 4.1 CNN and by an independently trained model. The dream is one render
# loop (`render`) over an objective (the class logit, minus the L2 and total-variation penalties) with jitter,
# blur, clipping and normalised gradient steps. Dreams from noise are parameterised by the coefficients of the
# training digits' leading principal components (`PCAImage`), with a Gaussian prior on them (`pca_prior`).

# %%
show_source("mnistlab.viz.objectives:class_logit", "mnistlab.viz.objectives:tv", "mnistlab.viz.objectives:pca_prior",
            "mnistlab.viz.dream:PCAImage", "mnistlab.viz.dream:render")

# %%
run.show("viz")

# %% [markdown]
# ## Task 6: multi-task learning on Fashion-MNIST
#
# One shared convolutional trunk, two heads (10 items, 3 groups), loss = lambda * L_items + (1 - lambda) *
# L_groups, one fresh model per lambda, Adam tuned with Optuna on a validation slice. `MultiTaskLoss` is the
# lambda-weighted loss; `UncertaintyLoss` learns the two task weights instead (Kendall et al., 2018).

# %%
nbtools.diagram("mtl")
show_source("mnistlab.models.multitask:trunk", "mnistlab.models.multitask:head",
            "mnistlab.models.multitask:MultiTaskNet", "mnistlab.models.multitask:MultiTaskLoss",
            "mnistlab.models.multitask:UncertaintyLoss")

# %%
run.show("mtl")
