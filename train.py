"""Train RetinaFace: ``python -u train.py --prefix ./model/retina --network resnet`` (or mnet).

Data parallel over the devices of ``--gpus`` (default: those of CUDA_VISIBLE_DEVICES; the CPU
when there are none) and, with ``--kvstore dist_sync``, over machines started with MXNet's DMLC_*
variables (each worker reads its own shard of the data; rank 0 writes the checkpoints).
Checkpoints hold the clean test graph: ``<prefix>-<epoch>`` after each epoch and ``<prefix>-0000``
as the latest (what test.py loads by default), with optimizer state for ``--resume``; each is a
unit verified by the sha256 in its meta JSON (see :mod:`rcnn.utils.checkpoint`). A prefix that
already holds a run needs ``--resume`` (continue it exactly; options that change the run are
refused unless ``--resume-with-changes``) or ``--overwrite`` (replace it); a prefix another run is
training is refused. Every run writes ``<prefix>-metrics.jsonl``; ``--val-every N --val-path DIR``
adds validation AP, ``<prefix>-best-ap`` / ``<prefix>-best-loss`` checkpoints,
``<prefix>-curves.png`` and ``--early-stop K`` (see :mod:`rcnn.core.hooks`).

Options are spelled in kebab-case (``--dataset-path``); the original's snake_case spellings
(``--dataset_path``, ``--end_epoch``, ...) are accepted too. The work is done by
:func:`rcnn.core.run.train_net`.
"""
import logging

from rcnn.core.options import parse_options
from rcnn.core.run import train_net
from rcnn.utils import cli

log = logging.getLogger('train')


def main(argv=None):
    cli.setup_logging()
    options = parse_options(argv)
    log.info('called with %s', vars(options))
    train_net(options)


if __name__ == '__main__':
    cli.run_main(main)
