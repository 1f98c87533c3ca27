"""mnistlab: the classic deep-learning study on MNIST and Fashion-MNIST, end to end."""

__version__ = "0.1.0"
