"""Validation AP during training: the detector on the weights being trained, scored by our evaluator.

The validation split is any folder in the RetinaFace layout (``<val>/label.txt`` with
``# <relative image path>`` lines and ``<val>/images/``), e.g. ``data/retinaface/val``. With the
official WIDER ``.mat`` ground truth the AP is the WIDER one (easy / medium / hard); without it
every ``label.txt`` box counts and the AP is at IoU 0.5 (setting ``all``). The value to select
checkpoints by is the mean over the settings.
"""
import logging
import os
import time

import numpy as np
from tqdm import tqdm

from rcnn.dataset.retinaface import read_label_file
from rcnn.processing import presets
from rcnn.evaluation.widerface_eval import evaluate, image_key, load_ground_truth, load_label_txt
from rcnn.utils.image_file import read_image_file
from rcnn.errors import DetectorError

log = logging.getLogger(__name__)


def list_images(val_path):
    """``[(key, image path)]`` of the ``# <relative path>`` lines of ``<val_path>/label.txt``, in
    file order; key is ``'<event>/<image>'`` as the evaluator names images.

    :raises LabelFileError: naming the file and line of a bad line (the one label.txt reader,
        :func:`rcnn.dataset.retinaface.read_label_file`)
    """
    label_file = os.path.join(val_path, 'label.txt')
    if not os.path.isfile(label_file):
        raise FileNotFoundError('validation split %s has no label.txt (expected the RetinaFace layout: '
                                '<val>/label.txt and <val>/images/)' % val_path)
    images = [(image_key(name), os.path.join(val_path, 'images', name)) for name, _, _ in read_label_file(label_file)]
    if not images:
        raise ValueError('%s lists no images ("# <path>" lines)' % label_file)
    return images


def detector_preset(cfg):
    """The detector preset of a training configuration: ``cfg.DETECTOR_PRESET``, which training
    also records in the checkpoint meta (``rcnn.processing.presets.META_KEY``).

    The preset must describe the configuration's anchors (``RPN_ANCHOR_CFG``) and pixel
    normalisation (``PIXEL_MEANS``, ``PIXEL_STDS``, ``PIXEL_SCALE``, all listed B, G, R) exactly,
    else the validation AP would measure another detector.

    :raises DetectorError: (a ValueError and UserError) saying what is missing or differs
    """
    name = getattr(cfg, 'DETECTOR_PRESET', None)
    if name is None:
        raise DetectorError('the configuration has no DETECTOR_PRESET: add config.DETECTOR_PRESET = '
                            "'net3' (the released models' preset; see sample_config.py) to config.py")
    try:
        preset = presets.detector_preset(name)
    except ValueError as err:
        raise DetectorError('DETECTOR_PRESET: %s' % err) from None

    def anchors(anchor_cfg):
        return {int(stride): (tuple(a['SCALES']), tuple(a['RATIOS']), a['BASE_SIZE'])
                for stride, a in anchor_cfg.items()}

    differences = []
    if anchors(cfg.RPN_ANCHOR_CFG) != anchors(presets.anchor_config(name)):
        differences.append('anchors %s' % anchors(cfg.RPN_ANCHOR_CFG))
    if (list(cfg.PIXEL_MEANS) != list(preset.pixel_means) or list(cfg.PIXEL_STDS) != list(preset.pixel_stds)
            or cfg.PIXEL_SCALE != 1.0):
        differences.append('pixel means %s / stds %s / scale %s'
                           % (list(cfg.PIXEL_MEANS), list(cfg.PIXEL_STDS), cfg.PIXEL_SCALE))
    if differences:
        raise DetectorError('DETECTOR_PRESET %r does not describe this configuration: its %s differ '
                            'from the preset (see rcnn/processing/presets.py)' % (name, ' and '.join(differences)))
    return name


class Validator:
    """Detects faces on the validation images with given weights and returns their AP.

    :param val_path: folder with ``label.txt`` and ``images/``
    :param gt_dir: folder of the official WIDER ``.mat`` files, or None to score against label.txt
    :param network: detector preset (see :func:`detector_preset`)
    :param scale: factor the images are resized by before detection
    :param threshold: lowest face score kept (low, so that the precision-recall curve is complete)
    :param max_images: score only the first N images (0: all)
    :param ctx_id: GPU id of the detector, -1 for the CPU
    """

    def __init__(self, val_path, gt_dir=None, network='net3', scale=1.0, threshold=0.02, max_images=0,
                 ctx_id=-1):
        self.images = list_images(val_path)
        if max_images:
            self.images = self.images[:max_images]
        self.ground_truth = (load_ground_truth(gt_dir) if gt_dir
                             else load_label_txt(os.path.join(val_path, 'label.txt')))
        # score only the images detected on when they are a part of the ground truth's
        self.partial = not set(self.ground_truth.keys) <= {key for key, _ in self.images}
        self.protocol = 'official' if gt_dir else 'python'
        self.network, self.scale, self.threshold, self.ctx_id = network, scale, threshold, ctx_id

    def detections(self, symbol, arg_params, aux_params):
        """``{key: (N, 5) [x1, y1, x2, y2, score]}`` of the detector on the given weights.

        :param symbol: the clean test graph; ``arg_params`` / ``aux_params``: {name: NDArray}
        """
        from rcnn.detection.detector import RetinaFace

        detector = RetinaFace.from_params(symbol, arg_params, aux_params, ctx_id=self.ctx_id,
                                          network=self.network)
        predictions = {}
        for key, path in tqdm(self.images, desc='validation', unit='img', leave=False, disable=None):
            faces, _ = detector.detect(read_image_file(path), self.threshold, scales=[self.scale])
            predictions[key] = faces[:, :5]
        return predictions

    def __call__(self, symbol, arg_params, aux_params):
        """``{'ap': mean AP, 'settings': {'easy': ap, ...} or {'all': ap}, 'images', 'seconds'}``."""
        tic = time.time()
        predictions = self.detections(symbol, arg_params, aux_params)
        per_setting = evaluate(predictions, self.ground_truth, protocol=self.protocol, box_format='xyxy',
                               only_predicted_images=self.partial)
        per_setting = {k: float(v) for k, v in per_setting.items()}
        return {'ap': float(np.mean(list(per_setting.values()))), 'settings': per_setting,
                'images': len(predictions), 'seconds': round(time.time() - tic, 2)}
