"""RetinaFace network definitions: one factory for the test and the train graph of every network.

``get_symbol('mnet' | 'resnet', mode='test' | 'train', cfg=cfg)``, cfg the run's configuration
(:func:`rcnn.config.generate_config`). The test graphs equal the released ``mnet.25-symbol.json``
and ``R50-symbol.json`` node for node. The original's ``get_mnet_test`` / ``get_mnet_train`` /
``get_resnet_test`` / ``get_resnet_train`` are kept; like ``get_symbol`` they take ``cfg`` as a
keyword and raise a TypeError saying so when it is missing (no global configuration is read).

Test graph: input ``data`` (B, 3, H, W) float32 RGB after the network's pixel normalisation; nine
outputs, for each stride N in 32, 16, 8:
``face_rpn_cls_prob_reshape_strideN`` (B, 2A, H/N, W/N) (channels [background of anchors 0..A-1,
face of anchors 0..A-1]), ``face_rpn_bbox_pred_strideN`` (B, 4A, H/N, W/N),
``face_rpn_landmark_pred_strideN`` (B, 10A, H/N, W/N).

Train graph: inputs ``data`` and, per stride N, ``face_label_strideN`` (B, A*h*w),
``face_bbox_target_strideN`` / ``face_bbox_weight_strideN`` (B, 4A, h*w),
``face_landmark_target_strideN`` / ``face_landmark_weight_strideN`` (B, 10A, h*w). Outputs, six per
stride in cfg.RPN_FEAT_STRIDE order (32, 16, 8), 18 in all; output ``6*i + k`` for stride index i:

- k=0 ``face_rpn_cls_prob_strideN`` (SoftmaxOutput): (B, 2, A*h*w) [background, face] probabilities;
- k=1 ``face_rpn_label_strideN`` (BlockGrad): (B, A*h*w) label after OHEM, 1 face, 0 bg, -1 ignored;
- k=2 ``face_rpn_bbox_loss_strideN`` (MakeLoss): (B, 4A, h*w) smooth-L1 per element;
- k=3 ``face_rpn_bbox_weight_strideN`` (BlockGrad): (B, 4A, h*w) box weight after OHEM;
- k=4 ``face_rpn_landmark_loss_strideN`` (MakeLoss): (B, 10A, h*w) smooth-L1 per element;
- k=5 ``face_rpn_landmark_weight_strideN`` (BlockGrad): (B, 10A, h*w) landmark weight after OHEM.

Without FACE_LANDMARK the last two are absent (four per stride). Metrics read (pred, label) as
outputs (6i, 6i+1) and (loss, weight) as (6i+2, 6i+3) and (6i+4, 6i+5).
"""
import mxnet as mx

from symbol import common, mnet, resnet

BACKBONES = ('mnet', 'resnet')  # the backbone names get_symbol accepts (not the detector presets net3, ...)
TEST_HEAD_KINDS = ('cls_score', 'bbox_pred', 'landmark_pred')  # prediction convs, per stride


def _require_cfg(cfg, caller):
    """cfg itself; a TypeError naming ``caller`` when it is not a configuration."""
    if not isinstance(cfg, dict):
        raise TypeError('%s needs cfg=<the run configuration>, e.g. '
                        "rcnn.config.generate_config('mnet', 'retinaface'); got %r" % (caller, type(cfg).__name__))
    return cfg


def _check_backbone(network):
    if network not in BACKBONES:
        raise ValueError('unknown network %r: choose one of %s' % (network, BACKBONES))


def _check_supported(cfg):
    unsupported = {key: cfg.get(key) for key in ('CASCADE', 'USE_MAXOUT', 'HEAD_BOX', 'USE_BLUR', 'USE_OCCLUSION',
                                                 'USE_3D', 'SHARE_WEIGHT_BBOX', 'SHARE_WEIGHT_LANDMARK')
                   if cfg.get(key)}
    if unsupported:
        raise ValueError('these configuration options are not supported by the released graphs: %s' % unsupported)


def get_ssh_features(network, cfg, data=None):
    """{stride: SSH module output} of ``network``'s backbone + FPN + SSH neck (no heads)."""
    _check_backbone(network)
    if cfg.HEAD_MODULE != 'SSH':
        raise ValueError('HEAD_MODULE=%r is not supported: the released graphs use SSH' % (cfg.HEAD_MODULE,))
    data = mx.sym.Variable('data') if data is None else data
    if network == 'mnet':
        features, names = mnet.get_mnet_backbone(data), mnet.NECK_NAMES
    else:
        features, names = resnet.get_resnet_backbone(data, cfg.RESNET_DEPTH), resnet.NECK_NAMES
    det_filter = cfg.DET_FILTER_NUM or cfg.HEAD_FILTER_NUM * cfg.CONTEXT_FILTER_RATIO
    return common.fpn_ssh_features(features, names, cfg.HEAD_FILTER_NUM, det_filter, cfg.USE_CROP, cfg.USE_DCN)


def get_symbol(network, mode='test', cfg=None):
    """The test or train graph of ``network`` ('mnet' or 'resnet'); see the module docstring.

    cfg: the run's configuration (:func:`rcnn.config.generate_config`), made for ``network``'s
    preset; required (None raises a TypeError; a configuration made for the other network a
    ValueError).
    """
    _require_cfg(cfg, 'get_symbol')
    _check_backbone(network)
    if cfg.get('network', network) != network:
        raise ValueError("cfg was made for the %r preset, not %r: pass generate_config(%r, ...)"
                         % (cfg.network, network, network))
    _check_supported(cfg)
    ssh = get_ssh_features(network, cfg)
    if mode == 'test':
        return mx.sym.Group(common.inference_outputs(ssh, cfg.RPN_FEAT_STRIDE, cfg.NUM_ANCHORS, cfg.FACE_LANDMARK))
    if mode == 'train':
        return mx.sym.Group(common.train_outputs(ssh, cfg))
    raise ValueError("mode must be 'test' or 'train', got %r" % (mode,))


def get_mnet_test(cfg=None):
    """Test graph of the MobileNet-0.25 RetinaFace (equal to mnet.25-symbol.json)."""
    return get_symbol('mnet', 'test', _require_cfg(cfg, 'get_mnet_test'))


def get_mnet_train(cfg=None):
    """Train graph of the MobileNet-0.25 RetinaFace."""
    return get_symbol('mnet', 'train', _require_cfg(cfg, 'get_mnet_train'))


def get_resnet_test(cfg=None):
    """Test graph of the ResNet RetinaFace (equal to R50-symbol.json at RESNET_DEPTH 50)."""
    return get_symbol('resnet', 'test', _require_cfg(cfg, 'get_resnet_test'))


def get_resnet_train(cfg=None):
    """Train graph of the ResNet RetinaFace."""
    return get_symbol('resnet', 'train', _require_cfg(cfg, 'get_resnet_train'))


def train_to_test_symbol(train_sym, strides, num_anchors):
    """The clean test graph inside a train graph: same layers and parameters, no labels, no custom op.

    Takes the prediction convs ``face_rpn_{cls_score,bbox_pred,landmark_pred}_strideN`` out of
    ``train_sym`` and ends them as the released test graph does (softmax over bg/face per anchor).
    """
    internals = train_sym.get_internals()
    available = set(internals.list_outputs())
    outputs = []
    for stride in strides:
        convs = []
        for kind in TEST_HEAD_KINDS:
            name = 'face_rpn_%s_stride%d_output' % (kind, stride)
            convs.append(internals[name] if name in available else None)
        if convs[0] is None or convs[1] is None:
            raise ValueError('the train graph has no face_rpn_cls_score/bbox_pred_stride%d layer' % stride)
        outputs += common.inference_head(*convs, stride=stride, num_anchors=num_anchors)
    return mx.sym.Group(outputs)


def train_to_test_checkpoint(train_sym, arg_params, aux_params, strides, num_anchors):
    """(test_sym, arg_params, aux_params) to save from a training run: the clean test graph and the
    parameters it uses (label inputs and anything unused dropped)."""
    test_sym = train_to_test_symbol(train_sym, strides, num_anchors)
    args = set(test_sym.list_arguments())
    aux = set(test_sym.list_auxiliary_states())
    return (test_sym, {k: v for k, v in arg_params.items() if k in args},
            {k: v for k, v in aux_params.items() if k in aux})
