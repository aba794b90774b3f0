"""The original's learning-rate schedule, computed from the global step (so it survives resumes).

``--lr-step`` lists increasing epochs. Their count chooses the factors, as in the original train.py:
- 8 epochs: a warm-up, the lr multiplied by 1.5849 (10 ** 0.2) at each of the first five (x10 in
  all), then by 0.1 at each of the last three;
- 5 epochs: factors 0.5, 0.5, 0.4, 0.1, 0.1;
- any other count: 0.1 at each.
The step of epoch ``e`` lies at iteration ``int(e * images / batch_size)``, and the original
applies its factor in the callback after that iteration's batch: the update that follows it is
the first with the new lr. Training ends at the last listed epoch's iteration, as in the original.
"""
import bisect

import mxnet as mx

WARMUP_FACTOR = 1.5849
FIVE_STEP_FACTORS = (0.5, 0.5, 0.4, 0.1, 0.1)


def parse_lr_step(lr_step):
    """'55,68,80' -> [55, 68, 80] (increasing epochs, each > 0); ValueError naming the option."""
    try:
        epochs = [int(e) for e in str(lr_step).split(',') if e.strip()]
    except ValueError:
        raise ValueError('--lr-step must be a comma-separated list of epochs, got %r' % lr_step) from None
    if not epochs:
        raise ValueError('--lr-step lists no epoch')
    if epochs[0] <= 0:
        raise ValueError('--lr-step epochs must be > 0, got %r' % lr_step)
    if any(later <= earlier for earlier, later in zip(epochs, epochs[1:])):
        raise ValueError('--lr-step epochs must increase, got %r' % lr_step)
    return epochs


def step_factors(num_steps):
    """The factor applied at each of ``num_steps`` lr steps."""
    if num_steps == 8:
        return [WARMUP_FACTOR] * 5 + [0.1] * 3
    if num_steps == 5:
        return list(FIVE_STEP_FACTORS)
    return [0.1] * num_steps


class EpochStepScheduler(mx.lr_scheduler.LRScheduler):
    """lr(num_update) = base_lr * product of the factors of every lr step passed before update
    ``num_update`` (MXNet numbers the updates from 1).

    :param step_epochs: epochs of the lr steps, ascending
    :param iters_per_epoch: images per epoch / batch size (the original's ``len(roidb) /
        input_batch_size``, a float), so the step of epoch e lies at iteration int(e * iters_per_epoch)
    :param base_lr: learning rate before the first step
    """

    def __init__(self, step_epochs, iters_per_epoch, base_lr):
        super().__init__(base_lr=base_lr)
        self.step_iters = [int(e * iters_per_epoch) for e in step_epochs]
        self.factors = step_factors(len(step_epochs))

    def __call__(self, num_update):
        lr = self.base_lr
        for factor in self.factors[:bisect.bisect_left(self.step_iters, num_update)]:
            lr *= factor
        return lr
