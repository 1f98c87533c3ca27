"""Errors a user can act on. The CLI prints them as one line and exits with code 2, never a traceback."""

import argparse


class UserError(Exception):
    """A problem the user can fix (bad flag, bad file, bad folder). `str(err)` is the whole message."""


class DataError(UserError):
    """A dataset file is missing, truncated, corrupt or does not match its checksum."""


class ConfigError(UserError):
    """An unknown study, profile or override key, or a value of the wrong type or range."""


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite. Carries the model name, epoch and step for the message."""

    def __init__(self, model: str, epoch: int, step: int, loss: float) -> None:
        super().__init__(f"{model}: loss became {loss} at epoch {epoch}, step {step}; lower the learning rate")
        self.model, self.epoch, self.step, self.loss = model, epoch, step, loss


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are UserErrors: one line instead of usage + message (used by `mnistlab` and by
    `mnistlab bench`, which parses its own flags)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see --help)")
