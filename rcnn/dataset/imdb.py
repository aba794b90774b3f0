"""Base class of the image databases, and the horizontal flip of roidb entries.

An image database turns a label file into a roidb: a list with one dict per image (see
:mod:`rcnn.dataset.retinaface` for the keys). Flipped copies of the entries hold mirrored
boxes and landmarks and ``'flipped': True``; the loader mirrors the pixels when it reads them.
"""
import logging
import os

import numpy as np

from rcnn.processing.landmarks import FLIP_ORDER  # noqa: F401 (also imported from here)

log = logging.getLogger(__name__)


def flip_boxes(boxes, width):
    """Mirror boxes in an image of ``width`` pixels: x -> width - 1 - x (the original's rule).

    :param boxes: (N, >=4) [x1, y1, x2, y2, ...]
    :return: a new array, x1 and x2 mirrored and swapped, other columns kept
    """
    flipped = np.array(boxes, copy=True)
    flipped[:, 0] = width - 1 - boxes[:, 2]
    flipped[:, 2] = width - 1 - boxes[:, 0]
    return flipped


def flip_landmarks(landmarks, width):
    """Mirror five-point landmarks and swap the left and right points.

    :param landmarks: (N, 5, 3) (x, y, flag); points with flag -1 (absent) are not moved
    :param width: image width in pixels
    :return: a new (N, 5, 3) array of the mirrored face, points in LANDMARK_NAMES order
        (:mod:`rcnn.processing.landmarks`)
    """
    flipped = np.array(landmarks, copy=True)
    present = flipped[:, :, 2] >= 0
    flipped[:, :, 0] = np.where(present, width - 1 - flipped[:, :, 0], flipped[:, :, 0])
    return flipped[:, FLIP_ORDER, :]


class IMDB:
    """An image set of a data set.

    :param name: data set name; ``self.name`` becomes ``<name>_<image_set>``
    :param image_set: split name
    :param root_path: folder for caches
    :param dataset_path: folder of the data set
    """

    def __init__(self, name, image_set, root_path, dataset_path):
        self.name = name + '_' + image_set
        self.image_set = image_set
        self.root_path = root_path
        self.data_path = dataset_path
        self.classes = []
        self.num_classes = 0
        self.num_images = 0

    def gt_roidb(self):
        raise NotImplementedError

    @property
    def cache_path(self):
        """``root_path/cache``, created when missing."""
        path = os.path.join(self.root_path, 'cache')
        os.makedirs(path, exist_ok=True)
        return path

    def append_flipped_images(self, roidb):
        """Append a horizontally flipped copy of every entry (the list is extended in place).

        Boxes (and every other ``boxes*`` key) are mirrored, landmarks mirrored with left and
        right points swapped; the image itself is mirrored when the loader reads it.

        :param roidb: entries with 'width', 'boxes' and optionally 'landmarks'
        :return: ``roidb``, now twice as long
        """
        log.info('%s: appending flipped images', self.name)
        flipped = []
        for roi in roidb:
            if roi.get('width') is None:
                raise ValueError('cannot flip %s: its width is unknown (build the roidb with '
                                 'check_images=True)' % roi['image'])
            entry = {k: v for k, v in roi.items() if not k.startswith('boxes') and k != 'landmarks'}
            for k in roi:
                if k.startswith('boxes'):
                    entry[k] = flip_boxes(roi[k], roi['width'])
            if 'landmarks' in roi:
                entry['landmarks'] = flip_landmarks(roi['landmarks'], roi['width'])
            entry['flipped'] = not roi['flipped']
            flipped.append(entry)
        roidb.extend(flipped)
        self.num_images = len(roidb)
        return roidb
