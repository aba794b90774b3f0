"""Building blocks shared by every RetinaFace network: FPN neck, SSH modules and the three heads.

A backbone gives one feature map per stride ({32: c3, 16: c2, 8: c1}); :func:`fpn_ssh_features`
turns them into the SSH outputs per stride with the layer names of the released graphs, and
:func:`inference_outputs` / :func:`train_outputs` put the heads on top. The layer names come from a
:class:`NeckNames` table, because the two released models name the same layers differently
(``rf_c3_lateral`` in mnet.25, ``ssh_c3_lateral`` in R50).
"""
import collections

import mxnet as mx

import rcnn.PY_OP.rpn_fpn_ohem3  # noqa: F401  (registers the custom operator of the train graph)
from rcnn.processing.bbox_transform import BBOX_PRED_LEN  # values per anchor, shared with the targets
from rcnn.processing.landmarks import LANDMARK_PRED_LEN

BN_EPS = 2e-5  # eps of every BatchNorm outside the backbone
BN_MOMENTUM = 0.9  # momentum of every BatchNorm outside the backbone
SMOOTH_L1_SCALAR = 3.0  # sigma of the box and landmark smooth-L1 losses
LANDMARK_LOSS_SCALE = 0.4  # landmark loss weight before LANDMARK_LR_MULT (LR_MODE 0)
VALID_COUNT_BBOX_SCALE = 0.25  # box loss weight when normalised by the positive count (LR_MODE 1)
VALID_COUNT_LANDMARK_SCALE = 0.1  # landmark loss weight when normalised likewise (LR_MODE 1)

NeckNames = collections.namedtuple('NeckNames', 'lateral upsampling aggr det')
NeckNames.__doc__ = """Layer names of the FPN + SSH neck, keyed by FPN level (3: stride 32, 2: 16, 1: 8).

lateral: {level: name} of the 1x1 lateral convolutions; upsampling: {level: name} of the nearest
x2 upsampling of that level's map; aggr: format string of the 3x3 convolution after each addition;
det: format string of each level's SSH detection module.
"""

# The mnet.25 release.
RF_NAMES = NeckNames(lateral={3: 'rf_c3_lateral', 2: 'rf_c2_lateral', 1: 'rf_c1_red_conv'},
                     upsampling={3: 'rf_c3_upsampling', 2: 'rf_c2_upsampling'},
                     aggr='rf_c{}_aggr', det='rf_c{}_det')
# The R50 release (the older SSH-style names).
SSH_NAMES = NeckNames(lateral={3: 'ssh_c3_lateral', 2: 'ssh_c2_lateral', 1: 'ssh_m1_red_conv'},
                      upsampling={3: 'ssh_c3_up', 2: 'ssh_m2_red_up'},
                      aggr='ssh_c{}_aggr', det='ssh_m{}_det')

STRIDE_LEVEL = {32: 3, 16: 2, 8: 1}  # FPN level of each supported stride


def conv_weight_bias(name, bias_wd_mult=0.0):
    """Weight ~ N(0, 0.01) and zero bias Variables with the original's lr/wd multipliers."""
    weight = mx.sym.Variable(name + '_weight', init=mx.init.Normal(0.01), attr={'__lr_mult__': '1.0'})
    bias = mx.sym.Variable(name + '_bias', init=mx.init.Constant(0.0),
                           attr={'__lr_mult__': '2.0', '__wd_mult__': str(bias_wd_mult)})
    return weight, bias


def conv_only(data, name, num_filter, kernel=(1, 1), pad=(0, 0), stride=(1, 1), bias_wd_mult=0.0):
    """Convolution with a bias, named ``name`` (weights ``name_weight`` / ``name_bias``)."""
    weight, bias = conv_weight_bias(name, bias_wd_mult)
    return mx.sym.Convolution(data=data, kernel=kernel, pad=pad, stride=stride, num_filter=num_filter,
                              name=name, weight=weight, bias=bias)


def conv_act_layer(data, name, num_filter, kernel=(1, 1), pad=(0, 0), stride=(1, 1), act_type='relu',
                   bias_wd_mult=0.0):
    """Convolution ``name`` + BatchNorm ``name_bn`` (+ Activation ``name_<act_type>`` unless '')."""
    net = conv_only(data, name, num_filter, kernel, pad, stride, bias_wd_mult)
    net = mx.sym.BatchNorm(data=net, fix_gamma=False, eps=BN_EPS, momentum=BN_MOMENTUM, name=name + '_bn')
    if act_type:
        net = mx.sym.Activation(data=net, act_type=act_type, name='%s_%s' % (name, act_type))
    return net


def conv3x3_layer(data, name, num_filter, act_type='relu'):
    """conv_act_layer with a 3x3 kernel, pad 1, stride 1."""
    return conv_act_layer(data, name, num_filter, kernel=(3, 3), pad=(1, 1), act_type=act_type)


def deformable_layer(data, name, num_filter):
    """3x3 deformable convolution (offsets from a plain 3x3 conv) + BatchNorm + ReLU (USE_DCN=1).

    Layers ``name_conv_offset``, ``name_conv``, ``name_bn``, ``name_act``, as in the original.
    """
    offset = mx.sym.Convolution(data=data, num_filter=18, kernel=(3, 3), pad=(1, 1), name=name + '_conv_offset')
    net = mx.sym.contrib.DeformableConvolution(data=data, offset=offset, num_filter=num_filter, kernel=(3, 3),
                                               pad=(1, 1), num_deformable_group=1, no_bias=False,
                                               name=name + '_conv')
    net = mx.sym.BatchNorm(data=net, fix_gamma=False, eps=BN_EPS, momentum=BN_MOMENTUM, name=name + '_bn')
    return mx.sym.Activation(data=net, act_type='relu', name=name + '_act')


def ssh_detection_module(data, num_filter, name, use_dcn=0):
    """SSH module: a 3x3 branch and a context branch (5x5 and 7x7 receptive fields), concatenated.

    ``name_conv1`` (num_filter / 2 channels, no ReLU) and, from ``name_context_conv1``
    (num_filter / 4, ReLU), ``name_context_conv2`` (no ReLU) and ``name_context_conv3_1`` (ReLU) ->
    ``name_context_conv3_2`` (no ReLU); ``name_concat`` of the three, then ``name_concat_relu``.
    Output: num_filter channels at the input's size.
    """
    if num_filter % 4:
        raise ValueError('SSH module %s: num_filter %d is not a multiple of 4' % (name, num_filter))
    context_filter = num_filter // 4
    conv3x3 = conv3x3_layer(data, name + '_conv1', num_filter // 2, act_type='')
    context = conv3x3_layer(data, name + '_context_conv1', context_filter)
    conv5x5 = conv3x3_layer(context, name + '_context_conv2', context_filter, act_type='')
    conv7x7 = conv3x3_layer(context, name + '_context_conv3_1', context_filter)
    conv7x7 = conv3x3_layer(conv7x7, name + '_context_conv3_2', context_filter, act_type='')
    net = mx.sym.concat(conv3x3, conv5x5, conv7x7, dim=1, name=name + '_concat')
    net = mx.sym.Activation(data=net, act_type='relu', name=name + '_concat_relu')
    if use_dcn == 1:
        net = deformable_layer(net, name + '_concat_dcn', num_filter)
    elif use_dcn:
        raise ValueError('USE_DCN=%r is not supported (0: off, 1: DeformableConvolution after the SSH concat)'
                         % (use_dcn,))
    return net


def upsample_add(coarse, lateral, name, use_crop=True):
    """``lateral + Crop(UpSampling(coarse, nearest, x2), lateral)`` (the crop only when use_crop)."""
    up = mx.sym.UpSampling(coarse, scale=2, sample_type='nearest', workspace=512, name=name, num_args=1)
    if use_crop:
        up = mx.sym.Crop(up, lateral, num_args=2)
    return lateral + up


def fpn_ssh_features(features, names, fpn_filter, det_filter, use_crop=True, use_dcn=0):
    """The released top-down FPN with an SSH detection module on every level.

    features: {32: c3, 16: c2, 8: c1} backbone maps. Level 3 gets a 1x1 lateral conv; each finer
    level adds its own 1x1 lateral conv to the upsampled coarser map and aggregates with a 3x3 conv
    (all conv+BN+ReLU with ``fpn_filter`` channels). Returns {stride: SSH output with det_filter
    channels}.
    """
    if sorted(features) != sorted(STRIDE_LEVEL):
        raise ValueError('the FPN needs backbone features at strides %s, got %s'
                         % (sorted(STRIDE_LEVEL), sorted(features)))
    fpn = {}
    coarser = None
    for stride in sorted(features, reverse=True):
        level = STRIDE_LEVEL[stride]
        lateral = conv_act_layer(features[stride], names.lateral[level], fpn_filter, bias_wd_mult=1.0)
        if coarser is None:
            fpn[stride] = lateral
        else:
            merged = upsample_add(fpn[coarser], lateral, names.upsampling[STRIDE_LEVEL[coarser]], use_crop)
            fpn[stride] = conv_act_layer(merged, names.aggr.format(level), fpn_filter, kernel=(3, 3),
                                         pad=(1, 1), bias_wd_mult=1.0)
        coarser = stride
    return {stride: ssh_detection_module(fpn[stride], det_filter, names.det.format(STRIDE_LEVEL[stride]), use_dcn)
            for stride in fpn}


def head_convs(feature, stride, num_anchors, landmark=True, prefix='face'):
    """The 1x1 prediction convs on one stride's SSH output.

    Returns (cls_score (B, 2A, H, W): channels [background of anchors 0..A-1, face of anchors
    0..A-1], bbox_pred (B, 4A, H, W): channel a*4 + c, landmark_pred (B, 10A, H, W): channel
    a*10 + 2*p + {0: x, 1: y}, or None without landmarks).
    """
    def conv(kind, channels):
        return conv_only(feature, '%s_rpn_%s_stride%d' % (prefix, kind, stride), channels)

    cls_score = conv('cls_score', 2 * num_anchors)
    bbox_pred = conv('bbox_pred', BBOX_PRED_LEN * num_anchors)
    landmark_pred = conv('landmark_pred', LANDMARK_PRED_LEN * num_anchors) if landmark else None
    return cls_score, bbox_pred, landmark_pred


def inference_head(cls_score, bbox_pred, landmark_pred, stride, num_anchors, prefix='face'):
    """[cls_prob_reshape (B, 2A, H, W), bbox_pred, landmark_pred] of one stride, as released.

    The class scores are softmaxed over (background, face) per anchor: Reshape to (B, 2, A*H, W),
    SoftmaxActivation(mode='channel'), Reshape back to (B, 2A, H, W).
    """
    scores = mx.sym.Reshape(cls_score, shape=(0, 2, -1, 0), name='%s_rpn_cls_score_reshape_stride%d' % (prefix, stride))
    prob = mx.sym.SoftmaxActivation(scores, mode='channel', name='%s_rpn_cls_prob_stride%d' % (prefix, stride))
    prob = mx.sym.Reshape(prob, shape=(0, 2 * num_anchors, -1, 0),
                          name='%s_rpn_cls_prob_reshape_stride%d' % (prefix, stride))
    return [prob, bbox_pred] + ([landmark_pred] if landmark_pred is not None else [])


def inference_outputs(ssh_features, strides, num_anchors, landmark=True):
    """The test graph's outputs: for each stride in ``strides`` (32, 16, 8) the three of inference_head."""
    outputs = []
    for stride in strides:
        convs = head_convs(ssh_features[stride], stride, num_anchors, landmark)
        outputs += inference_head(*convs, stride=stride, num_anchors=num_anchors)
    return outputs


def _anchor_weight_to_channels(anchor_weight, num_anchors, pred_len):
    """OHEM's (B, H*W*A, 1) anchor weight, order (h, w, a) -> (B, pred_len*A, H*W) like the targets."""
    weight = mx.sym.tile(anchor_weight, reps=(1, 1, pred_len))
    weight = mx.sym.reshape(weight, shape=(0, -1, num_anchors * pred_len))
    return mx.sym.transpose(weight, axes=(0, 2, 1))


def _smooth_l1_loss(pred, target, weight, name, grad_scale, valid_count=None):
    """MakeLoss(smooth_l1((pred - target) * weight, sigma=3)), optionally divided by valid_count."""
    loss = mx.sym.smooth_l1((pred - target) * weight, scalar=SMOOTH_L1_SCALAR, name=name + '_')
    if valid_count is not None:
        loss = mx.sym.broadcast_div(loss, valid_count)
    return mx.sym.MakeLoss(loss, grad_scale=grad_scale, name=name)


def train_outputs_for_stride(feature, stride, cfg, prefix='face'):
    """Losses of one stride; see :func:`symbol.get_symbol` for the six outputs and their order."""
    A = cfg.NUM_ANCHORS
    landmark = cfg.FACE_LANDMARK
    cls_score, bbox_pred, landmark_pred = head_convs(feature, stride, A, landmark, prefix)

    def label_var(kind):
        return mx.sym.Variable('%s_%s_stride%d' % (prefix, kind, stride))

    label = label_var('label')
    bbox_target, bbox_weight = label_var('bbox_target'), label_var('bbox_weight')
    cls_score = mx.sym.Reshape(cls_score, shape=(0, 2, -1), name='%s_rpn_cls_score_reshape_stride%d' % (prefix, stride))
    bbox_pred = mx.sym.Reshape(bbox_pred, shape=(0, 0, -1), name='%s_rpn_bbox_pred_reshape_stride%d' % (prefix, stride))
    if landmark:
        landmark_target, landmark_weight = label_var('landmark_target'), label_var('landmark_weight')
        landmark_pred = mx.sym.Reshape(landmark_pred, shape=(0, 0, -1),
                                       name='%s_rpn_landmark_pred_reshape_stride%d' % (prefix, stride))

    valid_count = None
    if cfg.TRAIN.RPN_ENABLE_OHEM >= 2:
        label, anchor_weight, valid_count = mx.sym.Custom(
            cls_score=cls_score, labels=label, op_type='rpn_fpn_ohem3', stride=stride, prefix=prefix,
            num_anchors=A, batch_size=cfg.TRAIN.RPN_BATCH_SIZE, fg_fraction=cfg.TRAIN.RPN_FG_FRACTION,
            ohem_mode=cfg.TRAIN.OHEM_MODE, name='%s_rpn_ohem_stride%d' % (prefix, stride))
        bbox_weight = mx.sym.elemwise_mul(bbox_weight, _anchor_weight_to_channels(anchor_weight, A, BBOX_PRED_LEN),
                                          name='%s_bbox_weight_mul_stride%d' % (prefix, stride))
        if landmark:
            landmark_weight = mx.sym.elemwise_mul(
                landmark_weight, _anchor_weight_to_channels(anchor_weight, A, LANDMARK_PRED_LEN),
                name='%s_landmark_weight_mul_stride%d' % (prefix, stride))
        valid_count = mx.sym.sum(valid_count) + 0.001

    cls_prob = mx.sym.SoftmaxOutput(data=cls_score, label=label, multi_output=True, normalization='valid',
                                    use_ignore=True, ignore_label=-1, grad_scale=1.0,
                                    name='%s_rpn_cls_prob_stride%d' % (prefix, stride))
    outputs = [cls_prob, mx.sym.BlockGrad(label, name='%s_rpn_label_stride%d' % (prefix, stride))]

    normalise = cfg.LR_MODE != 0 and valid_count is not None  # LR_MODE 1: divide by the positive count
    divisor = valid_count if normalise else None
    bbox_scale = VALID_COUNT_BBOX_SCALE if normalise else 1.0 / cfg.TRAIN.RPN_BATCH_SIZE
    outputs += [_smooth_l1_loss(bbox_pred, bbox_target, bbox_weight, '%s_rpn_bbox_loss_stride%d' % (prefix, stride),
                                bbox_scale, divisor),
                mx.sym.BlockGrad(bbox_weight, name='%s_rpn_bbox_weight_stride%d' % (prefix, stride))]
    if landmark:
        landmark_scale = cfg.LANDMARK_LR_MULT * (VALID_COUNT_LANDMARK_SCALE if normalise
                                                 else LANDMARK_LOSS_SCALE / cfg.TRAIN.RPN_BATCH_SIZE)
        outputs += [_smooth_l1_loss(landmark_pred, landmark_target, landmark_weight,
                                    '%s_rpn_landmark_loss_stride%d' % (prefix, stride), landmark_scale, divisor),
                    mx.sym.BlockGrad(landmark_weight, name='%s_rpn_landmark_weight_stride%d' % (prefix, stride))]
    return outputs


def train_outputs(ssh_features, cfg):
    """The train graph's outputs: train_outputs_for_stride for each stride in cfg.RPN_FEAT_STRIDE."""
    outputs = []
    for stride in cfg.RPN_FEAT_STRIDE:
        outputs += train_outputs_for_stride(ssh_features[stride], stride, cfg)
    return outputs
