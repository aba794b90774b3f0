"""The first updates from the released mnet.25 weights: the optimizer train.py builds
(build_optimizer) applies the original's SGD (momentum 0.9, weight decay, gradients / devices) at
the original's learning rates (warm-up lr_step: 0.001, 0.001 * 1.5849, 0.001 * 1.5849 ** 2), and
LAYER_FIX leaves the frozen pretrained layers untouched."""
import argparse

import mxnet as mx
import numpy as np

from rcnn.core.loader import CropLoader
from rcnn.core.run import build_optimizer
from rcnn.core.start import fixed_param_names
from rcnn.dataset.synthetic import write_marked_image
from symbol import get_symbol
from tests.shared_data import mnet25_prefix

EXPECTED_LRS = [0.001, 0.001 * 1.5849, 0.001 * 1.5849 ** 2]  # one batch per epoch, steps at 1..5
WD, MOMENTUM = 0.0005, 0.9


def test_first_three_updates_follow_the_original_sgd(mnet_config, tmp_path):
    _, arg_params, aux_params = mx.model.load_checkpoint(mnet25_prefix(), 0)
    mnet_config.SCALES = [(256, 256)]
    sym = get_symbol('mnet', mode='train', cfg=mnet_config)
    scores = [sym.get_internals()['face_rpn_cls_score_stride%d_output' % s] for s in mnet_config.RPN_FEAT_STRIDE]
    loader = CropLoader(scores, [write_marked_image(tmp_path / 'a.png')], batch_size=1, shuffle=False,
                        cfg=mnet_config, num_workers=0, seed=0)
    fixed = fixed_param_names(sym, arg_params, mnet_config)
    module = mx.mod.Module(sym, data_names=loader.data_name, label_names=loader.label_name, context=mx.cpu(),
                           fixed_param_names=fixed)
    module.bind(loader.provide_data, loader.provide_label, for_training=True)
    module.init_params(arg_params=arg_params, aux_params=aux_params, allow_missing=True, allow_extra=True)
    args = argparse.Namespace(lr=0.001, lr_step='1,2,3,4,5,55,68,80', wd=WD)
    optimizer = build_optimizer(args, num_devices=1, num_workers=1, iters_per_epoch=1.0, begin_step=0)
    module.init_optimizer(kvstore=mx.kv.create('device'), optimizer=optimizer)
    names = module._exec_group.param_names
    momentum = {name: 0.0 for name in names}
    batch = next(iter(loader))
    for lr in EXPECTED_LRS:
        before = {name: module.get_params()[0][name].asnumpy() for name in names}
        module.forward_backward(batch)
        grads = {name: g[0].asnumpy() for name, g in zip(names, module._exec_group.grad_arrays) if g[0] is not None}
        module.update()
        after = module.get_params()[0]
        for name in names:
            if name in fixed:
                assert np.array_equal(after[name].asnumpy(), before[name]), name
                continue
            momentum[name] = MOMENTUM * momentum[name] - np.float32(lr) * (grads[name] + WD * before[name])
            np.testing.assert_allclose(after[name].asnumpy(), before[name] + momentum[name], rtol=1e-5,
                                       atol=1e-7, err_msg=name)
    assert fixed == ['mobilenet0_%s%d_%s' % (layer, i, kind) for i in (0, 1)
                     for layer, kind in (('conv', 'weight'), ('batchnorm', 'gamma'), ('batchnorm', 'beta'))]
