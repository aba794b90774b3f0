"""MobileNet-0.25 backbone of the released mnet.25 model.

The backbone is Gluon's model-zoo ``mobilenet0_25`` traced to a symbol with the ``mobilenet0_``
prefix, so its layers and parameters carry the names of ``mnet.25-0000.params``
(``mobilenet0_conv0_weight``, ``mobilenet0_batchnorm0_running_mean``, ...). Only the architecture
is used; no weights are downloaded.
"""
from mxnet.gluon.model_zoo import vision

from symbol.common import RF_NAMES

NECK_NAMES = RF_NAMES  # the mnet.25 release names its FPN layers rf_*
GLUON_PREFIX = 'mobilenet0_'  # the prefix of every backbone name in mnet.25-0000.params
# The last activation at each stride (input 640 -> 80, 40, 20): the FPN's c1, c2, c3.
FEATURE_LAYERS = {8: 'mobilenet0_relu10_fwd', 16: 'mobilenet0_relu22_fwd', 32: 'mobilenet0_relu26_fwd'}


def get_mnet_backbone(data, multiplier=0.25):
    """{stride: feature map} of the traced Gluon MobileNet on ``data`` (B, 3, H, W) raw RGB pixels.

    Channels at multiplier 0.25: 64 (stride 8), 128 (stride 16), 256 (stride 32).
    """
    net = vision.get_mobilenet(multiplier, prefix=GLUON_PREFIX)
    internals = net.features(data).get_internals()
    return {stride: internals[name + '_output'] for stride, name in FEATURE_LAYERS.items()}
