"""Training throughput: images per second of mnet at batch 8, 640x640, on this machine's CPU,
and the share of the time spent waiting for the data loader (goal: under 5% with prefetch).

Run: ``.venv/bin/python bench/bench_train.py [--batches 12] [--workers 2] [--size 640]``.
Uses a generated data set (rcnn/dataset/synthetic.py) in a temporary folder.
"""
import argparse
import os
import tempfile
import time

import mxnet as mx

from rcnn.config import build_config, generate_config
from rcnn.core.loader import CropLoader
from rcnn.core.metric import get_train_metrics
from rcnn.core.run import build_optimizer
from rcnn.dataset import synthetic
from rcnn.dataset.load_data import load_gt_roidb
from symbol import get_symbol


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--network', default='mnet')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=640)
    parser.add_argument('--batches', type=int, default=12, help='timed batches (after 2 warm-up)')
    parser.add_argument('--workers', type=int, default=2, help='loader processes (0: in the loop)')
    args = parser.parse_args()

    cfg = generate_config(args.network, 'retinaface')
    cfg.SCALES = [(args.size, args.size)]
    with tempfile.TemporaryDirectory() as root:
        synthetic.write_split(root, 'train', 32, seed=0)
        roidb = load_gt_roidb('retinaface', 'train', root, root, flip=True, cfg=cfg)
        sym = get_symbol(args.network, mode='train', cfg=cfg)
        feat_sym = [sym.get_internals()['face_rpn_cls_score_stride%d_output' % s] for s in cfg.RPN_FEAT_STRIDE]
        loader = CropLoader(feat_sym, roidb, batch_size=args.batch, shuffle=True, cfg=cfg, num_workers=args.workers,
                            seed=0)
        mod = mx.mod.Module(sym, data_names=['data'], label_names=[d.name for d in loader.provide_label])
        mod.bind(loader.provide_data, loader.provide_label, for_training=True)
        mod.init_params(mx.init.Xavier())
        lr_step = build_config(args.network, 'retinaface')[1].lr_step
        optimizer = build_optimizer(argparse.Namespace(lr=0.001, lr_step=lr_step, wd=0.0005),
                                          num_devices=1, num_workers=1,
                                          iters_per_epoch=loader.size / args.batch, begin_step=0)
        mod.init_optimizer(optimizer=optimizer)
        metric = get_train_metrics(cfg)
        wait, total, done = 0.0, 0.0, 0
        batches = iter(loader)
        for k in range(args.batches + 2):
            start = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                loader.reset()
                batches = iter(loader)
                batch = next(batches)
            got = time.perf_counter()
            mod.forward_backward(batch)
            mod.update()
            mod.update_metric(metric, batch.label)
            mx.nd.waitall()
            end = time.perf_counter()
            if k >= 2:
                wait += got - start
                total += end - start
                done += 1
        loader.close()
    print('%s, batch %d, %dx%d, %d loader workers, %d cores: %.2f images/s, %.0f ms per batch, '
          'waiting for data %.1f%% of the time'
          % (args.network, args.batch, args.size, args.size, args.workers, os.cpu_count(),
             done * args.batch / total, 1e3 * total / done, 100 * wait / total))


if __name__ == '__main__':
    main()
