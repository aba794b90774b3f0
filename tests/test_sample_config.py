import numpy as np
import pytest

from rcnn.config import config, default, generate_config


@pytest.fixture(autouse=True)
def restore_resnet():
    yield
    generate_config('resnet', 'retinaface')


def test_mnet_preset():
    generate_config('mnet', 'retinaface')
    assert config.RPN_FEAT_STRIDE == [32, 16, 8]
    assert config.NUM_ANCHORS == 2
    assert config.HEAD_FILTER_NUM == 64
    assert config.TRAIN.BATCH_IMAGES == 16
    assert config.LANDMARK_LR_MULT == 2.5
    assert config.LAYER_FIX is True
    np.testing.assert_array_equal(config.PIXEL_MEANS, [0, 0, 0])
    assert default.pretrained == 'model/mobilenet025fd0'
    assert all(v['NUM_ANCHORS'] == 2 for v in config.RPN_ANCHOR_CFG.values())


def test_resnet_preset_and_no_leak_from_previous_call():
    generate_config('mnet', 'retinaface')
    generate_config('resnet', 'retinaface')
    assert config.HEAD_FILTER_NUM == 256
    assert config.TRAIN.BATCH_IMAGES == 8
    assert config.LANDMARK_LR_MULT == 2.0
    assert config.LAYER_FIX is False
    assert default.lr == 0.001 and default.lr_step == '1,2,3,4,5,55,68,80'
    assert default.pretrained == 'model/resnet-50'
    assert config.network == 'resnet' and config.dataset == 'retinaface'


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match='unknown network'):
        generate_config('vgg19', 'retinaface')
    with pytest.raises(ValueError, match='unknown dataset'):
        generate_config('mnet', 'coco')


def test_every_key_has_a_comment():
    import inspect
    import re

    import sample_config
    for line in inspect.getsource(sample_config).splitlines():
        if re.match(r'^(config|network|dataset|default)(\.\w+)+ = ', line):
            assert '#' in line, 'undocumented key: ' + line
