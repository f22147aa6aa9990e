"""Callbacks of the training loop: the learning-rate schedule and early stopping.

The loop (:func:`skmmoe._engine.training.train`) calls each callback of
``TrainConfig.callbacks``, in order, at the start of training, after every
optimizer step, after every epoch (with the epoch's objective: the validation
loss, or the training loss without validation; a callback may ask to stop) and
at the end. A callback may outlive one call of the loop: ``skmmoe.dask.fit``
passes one :class:`LRSchedule` to every ``partial_fit`` call of its passes, so
that the learning rate follows one schedule over all of them, as in ``fit``.
(LightGBM's ``callback.py`` and skorch's ``LRScheduler`` are the models.)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from .optim import PLATEAU_FACTOR, ParamGroups, lr_factor

if TYPE_CHECKING:
    from .._params import TrainingSpec
    from .training import TrainResult, _Run

__all__ = ["Callback", "EarlyStopping", "LRSchedule", "fit_callbacks"]


class Callback:
    """The hooks of the training loop; each does nothing unless overridden."""

    def on_train_begin(self, run: _Run) -> None:
        """Before the first step, with the optimizer made."""

    def on_step_end(self, run: _Run) -> None:
        """After every optimizer step."""

    def on_epoch_end(self, run: _Run, epoch: int, objective: float) -> bool:
        """After every epoch, with its objective (the validation loss, or the
        training loss); True stops training."""
        return False

    def on_train_end(self, run: _Run, result: TrainResult) -> None:
        """After the last epoch (or an interruption), before the result is
        returned."""


class LRSchedule(Callback):
    """The learning rate along a schedule over ``total_steps`` optimizer steps.

    "constant", "linear" or "cosine" (:func:`~skmmoe._engine.optim.lr_factor`)
    set the rate before every step from the steps taken so far, which carry over
    from one call of the loop to the next; "plateau" halves it
    (``ReduceLROnPlateau``) after ``patience`` epochs without improvement of the
    objective.

    Parameters
    ----------
    schedule : {"constant", "linear", "cosine", "plateau"}
    patience : int
        Epochs without improvement before "plateau" lowers the rate.
    total_steps : int or None, default=None
        The steps the schedule spans; None: the steps of the first call (its
        epochs times its batches).
    learning_rate : float or None, default=None
        The rate the schedule starts from; None: the training spec's.
    """

    def __init__(
        self,
        schedule: str,
        *,
        patience: int = 1,
        total_steps: int | None = None,
        learning_rate: float | None = None,
    ):
        self.schedule = schedule
        self.patience = patience
        self.total_steps = total_steps
        self.learning_rate = learning_rate
        self.steps_done = 0
        self._groups: list[dict] = []
        self._plateau: Any = None

    def on_train_begin(self, run: _Run) -> None:
        if self.learning_rate is None:
            self.learning_rate = run.config.spec.learning_rate
        if self.total_steps is None and self.schedule != "plateau":
            self.total_steps = run.config.epochs * len(run.starts)
        self._groups = run.optimizer.param_groups
        self._set(self._factor())
        if self.schedule == "plateau":
            self._plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                ParamGroups(run.optimizer),
                mode="min",
                factor=PLATEAU_FACTOR,
                patience=self.patience,
            )

    def on_step_end(self, run: _Run) -> None:
        self.steps_done += 1
        if self._plateau is None:
            self._set(self._factor())

    def on_epoch_end(self, run: _Run, epoch: int, objective: float) -> bool:
        if self._plateau is not None and not math.isnan(objective):
            self._plateau.step(objective)
        return False

    def _factor(self) -> float:
        if self.schedule == "plateau":
            return 1.0
        return lr_factor(self.schedule, self.steps_done, self.total_steps or 1)

    def _set(self, factor: float) -> None:
        assert self.learning_rate is not None  # set by on_train_begin
        for group in self._groups:
            group["lr"] = self.learning_rate * factor


class EarlyStopping(Callback):
    """Stops training after ``patience`` epochs without improvement of the
    objective, and restores the weights of the best epoch. For a loop that
    validates: the objective is then the validation loss.

    Parameters
    ----------
    patience : int
        The estimator's ``n_iter_no_change``.
    """

    def __init__(self, patience: int):
        self.patience = patience
        self.best_objective = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_epoch: int | None = None
        self.stale = 0

    def on_epoch_end(self, run: _Run, epoch: int, objective: float) -> bool:
        if objective < self.best_objective:
            self.best_objective, self.best_epoch, self.stale = objective, epoch, 0
            self.best_state = {
                k: v.detach().clone() for k, v in run.network.state_dict().items()
            }
            return False
        self.stale += 1
        return self.stale >= self.patience

    def on_train_end(self, run: _Run, result: TrainResult) -> None:
        if self.best_state is not None:
            run.network.load_state_dict(self.best_state)
            result.best_epoch = self.best_epoch


def fit_callbacks(
    spec: TrainingSpec, *, validating: bool, chunk: bool = False
) -> list[Callback]:
    """The callbacks of a fit with ``spec``: early stopping when validating, then
    the learning-rate schedule ("constant" for a later ``partial_fit`` chunk,
    whose epoch has no end of training to decay towards)."""
    schedule = LRSchedule(
        "constant" if chunk else spec.lr_schedule,
        patience=max(1, spec.n_iter_no_change // 2),
    )
    if validating:
        return [EarlyStopping(spec.n_iter_no_change), schedule]
    return [schedule]
