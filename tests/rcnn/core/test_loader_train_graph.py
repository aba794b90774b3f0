"""The loader and the metrics with the real train graph (symbol.get_symbol(..., 'train'))."""
import math

import mxnet as mx

from rcnn.core.loader import CropLoader
from rcnn.core.metric import get_train_metrics
from rcnn.dataset.synthetic import write_marked_image
from symbol import get_symbol
from tests.rcnn.io.test_rpn_released_model import val_roidb
from tests.shared_data import mnet25_prefix


def train_graph_and_scores(cfg):
    sym = get_symbol('mnet', 'train', cfg)
    internals = sym.get_internals()
    return sym, [internals['face_rpn_cls_score_stride%d_output' % s] for s in cfg.RPN_FEAT_STRIDE]


def test_loader_feeds_module_fit(mnet_config, tmp_path):
    sym, scores = train_graph_and_scores(mnet_config)
    roidb = [write_marked_image(tmp_path / ('%d.png' % i)) for i in range(4)]
    loader = CropLoader(scores, roidb, batch_size=2, shuffle=True, cfg=mnet_config, num_workers=1, seed=0)
    try:
        mod = mx.mod.Module(sym, data_names=loader.data_name, label_names=loader.label_name, context=mx.cpu())
        metrics = get_train_metrics(mnet_config)
        mod.fit(loader, eval_metric=metrics, num_epoch=1, optimizer='sgd', initializer=mx.init.Xavier(),
                optimizer_params={'learning_rate': 0.001})
    finally:
        loader.close()
    values = dict(zip(*metrics.get()))
    # the synthetic faces are large after the crop's upscaling: their anchors are at strides 32 and 16
    for stride in (32, 16):
        for key in ('RPNAcc_s%d', 'RPNAcc_s%d_FG', 'RPNL1Loss_s%d', 'RPNLandMarkL1Loss_s%d'):
            assert math.isfinite(values[key % stride]), key % stride


def test_released_mnet_is_accurate_on_our_batches_from_the_first_one(mnet_config):
    """Fine-tuning sanity: the released weights in the train graph, fed by our loader on real val
    crops, score high accuracy and low box L1 at once (a random network: FG accuracy 0, L1 ~0.4)."""
    sym, scores = train_graph_and_scores(mnet_config)
    _, arg_params, aux_params = mx.model.load_checkpoint(mnet25_prefix(), 0)
    loader = CropLoader(scores, val_roidb(), batch_size=1, shuffle=True, cfg=mnet_config, num_workers=0, seed=0)
    mod = mx.mod.Module(sym, data_names=loader.data_name, label_names=loader.label_name, context=mx.cpu())
    mod.bind(loader.provide_data, loader.provide_label, for_training=False)
    mod.set_params(arg_params, aux_params, allow_extra=True)
    metrics = get_train_metrics(mnet_config)
    for _ in range(2):
        for batch in loader:
            mod.forward(batch, is_train=False)
            metrics.update(batch.label, mod.get_outputs())
        loader.reset()
    values = dict(zip(*metrics.get()))
    # measured: accuracy 0.96-1.0, face accuracy 0.58-0.89, box L1 0.04-0.16 per positive anchor
    for stride in (16, 8):
        assert values['RPNAcc_s%d' % stride] > 0.93
        assert values['RPNAcc_s%d_BG' % stride] > 0.98
        assert values['RPNAcc_s%d_FG' % stride] > 0.45
        assert values['RPNL1Loss_s%d' % stride] < 0.25
