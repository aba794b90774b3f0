import os

import mxnet as mx
import numpy as np
import pytest

from rcnn.core.validation import Validator, detector_preset, list_images
from rcnn.evaluation.widerface_eval import evaluate, image_key
from rcnn.detection.detector import DetectorError, RetinaFace
from rcnn.utils.image_file import read_image_file
from tests.shared_data import mnet25_prefix, shared_path, widerface_val_images


def val_folder(tmp_path, images):
    """A RetinaFace-layout split of the given real images: their label.txt entries, images linked."""
    wanted = {name for name, _ in images}
    lines, keep = [], False
    with open(shared_path('annotations', 'retinaface_gt_val', 'label.txt')) as f:
        for line in f:
            if line.startswith('#'):
                keep = line[1:].strip() in wanted
            if keep:
                lines.append(line)
    folder = tmp_path / 'val'
    for name, path in images:
        (folder / 'images' / os.path.dirname(name)).mkdir(parents=True, exist_ok=True)
        os.symlink(path, folder / 'images' / name)
    (folder / 'label.txt').write_text(''.join(lines))
    return folder


def direct_detections(images, threshold, scale):
    detector = RetinaFace(mnet25_prefix(), 0, ctx_id=-1, network='net3')
    return {name: detector.detect(read_image_file(path), threshold, scales=[scale])[0] for name, path in images}


def test_released_mnet25_scores_as_the_detector_on_its_own_checkpoint(tmp_path, mnet_config):
    """Weights handed over in memory (as during training) give the AP of the released checkpoint
    loaded by the detector and scored by the evaluator, with the .mat and with label.txt."""
    images = widerface_val_images()
    gt_dir = shared_path('annotations', 'widerface_eval_gt')
    folder = val_folder(tmp_path, images)
    assert sorted(key for key, _ in list_images(str(folder))) == sorted(image_key(name) for name, _ in images)
    symbol, arg_params, aux_params = mx.model.load_checkpoint(mnet25_prefix(), 0)
    assert detector_preset(mnet_config) == 'net3'
    want = direct_detections(images, 0.02, 0.5)

    with_mat = Validator(str(folder), gt_dir=gt_dir, network='net3', scale=0.5)
    got = with_mat(symbol, arg_params, aux_params)
    expected = evaluate(want, gt_dir, box_format='xyxy', only_predicted_images=True)
    assert got['settings'] == pytest.approx(expected, abs=1e-9)
    assert got['ap'] == pytest.approx(np.mean(list(expected.values())))
    assert got['images'] == len(images) and expected['easy'] > 0.3

    with_labels = Validator(str(folder), network='net3', scale=0.5, max_images=2)
    got = with_labels(symbol, arg_params, aux_params)
    first_two = {key: want[key + '.jpg'] for key, _ in list_images(str(folder))[:2]}
    expected = evaluate(first_two, str(folder / 'label.txt'), protocol='python', box_format='xyxy',
                        only_predicted_images=True)
    assert list(got['settings']) == ['all'] and got['settings']['all'] == pytest.approx(expected['all'])


def test_missing_label_txt_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        list_images(str(tmp_path))


def test_preset_comes_from_the_configuration_and_must_describe_it(mnet_config):
    assert detector_preset(mnet_config) == mnet_config.DETECTOR_PRESET == 'net3'
    cases = [
        (dict(PIXEL_MEANS=np.array([1.0, 2.0, 3.0])),
         "DETECTOR_PRESET 'net3' does not describe this configuration: its pixel means [1.0, 2.0, 3.0] / "
         "stds [1.0, 1.0, 1.0] / scale 1.0 differ from the preset (see rcnn/processing/presets.py)"),
        (dict(DETECTOR_PRESET='net3a'),
         "DETECTOR_PRESET 'net3a' does not describe this configuration: its anchors {32: ((32, 16), (1.0,), "
         "16), 16: ((8, 4), (1.0,), 16), 8: ((2, 1), (1.0,), 16)} differ from the preset (see "
         "rcnn/processing/presets.py)"),
        (dict(DETECTOR_PRESET='net7'),
         "DETECTOR_PRESET: unknown detector preset 'net7': choose one of net3, net3a, net4, net4a, net5, "
         "net5a, net6, ssh, vgg, x3, x3a, x5"),
        (dict(DETECTOR_PRESET=None),
         "the configuration has no DETECTOR_PRESET: add config.DETECTOR_PRESET = 'net3' (the released "
         "models' preset; see sample_config.py) to config.py"),
    ]
    for changes, message in cases:
        with pytest.raises(DetectorError) as error:
            detector_preset(type(mnet_config)(dict(mnet_config, **changes)))
        assert str(error.value) == message


@pytest.mark.parametrize('network', ['mnet', 'resnet'])
def test_every_training_preset_names_a_detector_preset_that_describes_it(network):
    from rcnn.config import config, generate_config
    generate_config(network, 'retinaface')
    try:
        assert detector_preset(config) == 'net3'
    finally:
        generate_config('resnet', 'retinaface')
