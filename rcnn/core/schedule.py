"""The original's learning-rate schedule, computed from the global step (so it survives resumes).

``--lr_step`` lists epochs. Their count chooses the factors, as in the original train.py:
- 8 epochs: a warm-up, the lr multiplied by 1.5849 (10 ** 0.2) at each of the first five (x10 in
  all), then by 0.1 at each of the last three;
- 5 epochs: factors 0.5, 0.5, 0.4, 0.1, 0.1;
- any other count: 0.1 at each.
Training ends at the last listed epoch, as in the original.
"""
import bisect

import mxnet as mx

WARMUP_FACTOR = 1.5849
FIVE_STEP_FACTORS = (0.5, 0.5, 0.4, 0.1, 0.1)


def parse_lr_step(lr_step):
    """'55,68,80' -> [55, 68, 80] (sorted epochs)."""
    try:
        epochs = sorted(int(e) for e in str(lr_step).split(',') if e.strip())
    except ValueError:
        raise ValueError('--lr_step must be a comma-separated list of epochs, got %r' % lr_step)
    if not epochs:
        raise ValueError('--lr_step lists no epoch')
    return epochs


def step_factors(num_steps):
    """The factor applied at each of ``num_steps`` lr steps."""
    if num_steps == 8:
        return [WARMUP_FACTOR] * 5 + [0.1] * 3
    if num_steps == 5:
        return list(FIVE_STEP_FACTORS)
    return [0.1] * num_steps


class EpochStepScheduler(mx.lr_scheduler.LRScheduler):
    """lr(step) = base_lr * product of the factors of every lr step reached by ``step``.

    :param step_epochs: epochs of the lr steps, ascending
    :param iters_per_epoch: batches per epoch (global step units)
    :param base_lr: learning rate before the first step
    """

    def __init__(self, step_epochs, iters_per_epoch, base_lr):
        super().__init__(base_lr=base_lr)
        self.step_iters = [int(e * iters_per_epoch) for e in step_epochs]
        self.factors = step_factors(len(step_epochs))

    def __call__(self, num_update):
        lr = self.base_lr
        for factor in self.factors[:bisect.bisect_right(self.step_iters, num_update)]:
            lr *= factor
        return lr
