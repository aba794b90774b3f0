"""Pre-activation ResNet backbone with the MXNet model-zoo names (R50 release, ImageNet checkpoints).

Names as in the legacy MXNet image-classification ``resnet`` symbol: ``bn_data`` (input
normalisation, fixed gamma), ``conv0``/``bn0``/``relu0``/``pooling0``, units
``stageK_unitN_{bn1,relu1,conv1,bn2,relu2,conv2,bn3,relu3,conv3,sc}`` and the final ``bn1``/``relu1``,
so that ``model/resnet-50-0000.params`` (or resnet-152, ...) initialises it.
"""
import mxnet as mx

from symbol.common import SSH_NAMES

NECK_NAMES = SSH_NAMES  # the R50 release names its FPN layers ssh_*
BN_EPS = 2e-5  # eps of the model-zoo ResNet BatchNorms
BN_MOMENTUM = 0.9  # their momentum
# depth: (units per stage, bottleneck units?)
UNITS = {18: ([2, 2, 2, 2], False), 34: ([3, 4, 6, 3], False), 50: ([3, 4, 6, 3], True),
         101: ([3, 4, 23, 3], True), 152: ([3, 8, 36, 3], True), 200: ([3, 24, 36, 3], True)}


def _bn(data, name, fix_gamma=False):
    return mx.sym.BatchNorm(data=data, fix_gamma=fix_gamma, eps=BN_EPS, momentum=BN_MOMENTUM, name=name)


def _conv(data, name, num_filter, kernel, stride=(1, 1), pad=(0, 0)):
    return mx.sym.Convolution(data=data, num_filter=num_filter, kernel=kernel, stride=stride, pad=pad,
                              no_bias=True, name=name)


def residual_unit(data, num_filter, stride, dim_match, name, bottleneck):
    """One pre-activation unit. Returns (output, the activation that feeds the strided conv).

    Bottleneck: bn1-relu1-conv1 (1x1, num_filter/4)-bn2-relu2-conv2 (3x3, stride)-bn3-relu3-conv3
    (1x1, num_filter); basic: bn1-relu1-conv1 (3x3, stride)-bn2-relu2-conv2 (3x3). The shortcut is
    ``data`` when dim_match, else ``name_sc`` (1x1, stride) on relu1.
    """
    act = mx.sym.Activation(_bn(data, name + '_bn1'), act_type='relu', name=name + '_relu1')
    shortcut = data if dim_match else _conv(act, name + '_sc', num_filter, (1, 1), stride)
    if bottleneck:
        specs = [(num_filter // 4, (1, 1), (1, 1), (0, 0)), (num_filter // 4, (3, 3), stride, (1, 1)),
                 (num_filter, (1, 1), (1, 1), (0, 0))]
    else:
        specs = [(num_filter, (3, 3), stride, (1, 1)), (num_filter, (3, 3), (1, 1), (1, 1))]
    net, before_stride = act, act
    for i, (filters, kernel, conv_stride, pad) in enumerate(specs, start=1):
        if i > 1:
            net = mx.sym.Activation(_bn(net, '%s_bn%d' % (name, i)), act_type='relu', name='%s_relu%d' % (name, i))
        if conv_stride != (1, 1):
            before_stride = net
        net = _conv(net, '%s_conv%d' % (name, i), filters, kernel, conv_stride, pad)
    return net + shortcut, before_stride


def get_resnet_backbone(data, depth=50):
    """{stride: feature map} of the model-zoo ResNet-``depth`` on ``data`` (B, 3, H, W) raw RGB.

    Stride 8 and 16 are the activations that feed the first strided conv of stage 3 and stage 4
    (``stage3_unit1_relu2`` and ``stage4_unit1_relu2`` for depth >= 50), stride 32 is the final
    ``relu1``, as in the released R50 graph.
    """
    if depth not in UNITS:
        raise ValueError('unsupported ResNet depth %r: choose one of %s' % (depth, sorted(UNITS)))
    units, bottleneck = UNITS[depth]
    filters = [256, 512, 1024, 2048] if bottleneck else [64, 128, 256, 512]
    net = _bn(data, 'bn_data', fix_gamma=True)
    net = _conv(net, 'conv0', 64, (7, 7), (2, 2), (3, 3))
    net = mx.sym.Activation(_bn(net, 'bn0'), act_type='relu', name='relu0')
    net = mx.sym.Pooling(net, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type='max', name='pooling0')
    features = {}
    for stage, (num_units, num_filter) in enumerate(zip(units, filters), start=1):
        stride = (1, 1) if stage == 1 else (2, 2)
        for unit in range(1, num_units + 1):
            net, before_stride = residual_unit(net, num_filter, stride if unit == 1 else (1, 1), unit > 1,
                                               'stage%d_unit%d' % (stage, unit), bottleneck)
            if unit == 1 and stage >= 3:
                features[2 ** stage] = before_stride  # the stage's input stride: 8, 16
    features[32] = mx.sym.Activation(_bn(net, 'bn1'), act_type='relu', name='relu1')
    return features
