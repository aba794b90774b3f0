"""The RetinaFace annotation release of WIDER FACE as a training roidb.

Layout under ``data_path`` (``data/retinaface`` by default)::

    <split>/label.txt      '# <relative image path>' starts an image, then one line per face
    <split>/images/<relative image path>

A face line is ``x y w h`` (val and test format) or ``x y w h`` followed by five ``lx ly flag``
landmark triples and a blur score (20 numbers, train format). A landmark flag of 0 means
visible, 1 occluded; a point given as ``-1 -1 -1`` is absent.

Each roidb entry (one image) is a dict:

- ``'image'``: absolute path of the image file
- ``'height'``, ``'width'``: image size in pixels (None where the image was not read)
- ``'boxes'``: (N, 4) float32 [x1, y1, x2, y2] pixels, x2 = x + w and y2 = y + h (no "-1",
  as the original), clipped to the image's width and height; faces with no area are dropped
- ``'landmarks'``: (N, 5, 3) float32 (x, y, flag) per point, points in the order left eye,
  right eye, nose, left mouth corner, right mouth corner (the annotation's order); flag 1.0
  visible, 0.0 occluded, -1.0 absent (then x = y = -1); all -1 for label lines without landmarks
- ``'blur'``: (N,) float32 blur score of the annotation, 0.3 where the file gives a negative one
  (0 for label lines without a score)
- ``'gt_classes'``: (N,) int32, 1 (face); ``'gt_overlaps'``: (N, 2) float32 one-hot;
  ``'max_classes'``, ``'max_overlaps'``: their argmax / max per face
- ``'flipped'``: False (True on the entries :meth:`retinaface.append_flipped_images` adds)
- ``'max_num_boxes'``: the largest N over the roidb
- ``'boxes_mask'``: (M, 4) float32, only where ``config.BBOX_MASK_THRESH > 0`` moved faces
  smaller than that here (the crop loader greys those regions out)
"""
import hashlib
import logging
import os
import pickle

import numpy as np
from tqdm import tqdm

from ..config import config
from .imdb import IMDB

log = logging.getLogger(__name__)

NUM_LANDMARKS = 5
# Numbers on a face line: x y w h, or x y w h + 5 * (x, y, flag) + blur.
SHORT_LINE, LONG_LINE = 4, 4 + NUM_LANDMARKS * 3 + 1
# Blur score given to faces whose annotation has a negative one (as the original).
DEFAULT_BLUR = 0.3
CACHE_VERSION = 1


class LabelFileError(ValueError):
    """A label.txt line that cannot be read, or an image it names that is missing."""

    def __init__(self, path, line_no, reason):
        super().__init__('%s:%d: %s' % (path, line_no, reason))
        self.path, self.line_no, self.reason = path, line_no, reason


def read_label_file(path):
    """Parse a RetinaFace ``label.txt``.

    :param path: the file
    :return: list of (relative image path, line number of its '#' line, list of (line number,
        tuple of floats)) in file order
    :raises LabelFileError: naming the file and line of a face line before any '#' line, a
        non-numeric value, a count other than 4 or 20 numbers, a duplicate image or an empty name
    """
    images, seen = [], set()
    with open(path, 'r') as f:
        for line_no, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith('#'):
                name = line[1:].strip()
                if not name:
                    raise LabelFileError(path, line_no, 'image line without a path')
                if name in seen:
                    raise LabelFileError(path, line_no, 'image %r listed twice' % name)
                seen.add(name)
                images.append((name, line_no, []))
                continue
            if not images:
                raise LabelFileError(path, line_no, 'face line before the first "# <image>" line')
            try:
                values = tuple(float(v) for v in line.split())
            except ValueError:
                raise LabelFileError(path, line_no, 'not a list of numbers: %r' % line) from None
            if len(values) not in (SHORT_LINE, LONG_LINE):
                raise LabelFileError(path, line_no, 'expected %d numbers (x y w h) or %d (x y w h, '
                                     '5 landmarks x y flag, blur), got %d'
                                     % (SHORT_LINE, LONG_LINE, len(values)))
            images[-1][2].append((line_no, values))
    return images


def parse_landmarks(values, path, line_no):
    """(5, 3) float32 (x, y, flag) from the 15 landmark numbers of a face line.

    The file's flag 0 (visible) becomes 1.0 and 1 (occluded) becomes 0.0; a point given as
    ``-1 -1 -1`` stays -1 (absent).
    """
    points = np.asarray(values, dtype=np.float32).reshape(NUM_LANDMARKS, 3)
    absent = (points[:, 0] == -1) & (points[:, 1] == -1)
    if np.any(absent & (points[:, 2] != -1)):
        raise LabelFileError(path, line_no, 'a landmark at (-1, -1) must have flag -1')
    if np.any(~absent & (points[:, 2] < 0)):
        raise LabelFileError(path, line_no, 'a landmark with coordinates has a negative flag')
    points[:, 2] = np.where(absent, -1.0, np.where(points[:, 2] == 0, 1.0, 0.0))
    return points


def _image_size(image_path):
    """(width, height) of an image file, read from its header."""
    from PIL import Image
    with Image.open(image_path) as im:
        return im.size


def _file_signature(path):
    """(size, mtime_ns, sha1) of a file: what the roidb cache is keyed on."""
    st = os.stat(path)
    digest = hashlib.sha1()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return st.st_size, st.st_mtime_ns, digest.hexdigest()


class retinaface(IMDB):
    """One split of the RetinaFace annotations (keeps the original's class name).

    :param image_set: split name: ``train``, ``val`` or ``test`` (a folder under ``data_path``)
    :param root_path: folder for caches (the roidb pickle goes to ``root_path/cache``)
    :param data_path: folder that holds ``<split>/label.txt`` and ``<split>/images``
    :param check_images: read every image's size (clip boxes to it) and stop on a missing image;
        when False, images that are absent get ``height = width = None`` and unclipped boxes
    """

    def __init__(self, image_set, root_path, data_path, check_images=True):
        super().__init__('retinaface', image_set, root_path, data_path)
        self.label_file = os.path.join(data_path, image_set, 'label.txt')
        self.images_path = os.path.join(data_path, image_set, 'images')
        self.check_images = check_images
        self.classes = ['bg', 'face']
        self.num_classes = len(self.classes)
        if not os.path.isfile(self.label_file):
            raise FileNotFoundError('label file not found: %s (expected <dataset_path>/<split>/label.txt '
                                    'from the RetinaFace annotation release)' % self.label_file)

    @property
    def cache_file(self):
        """Path of the pickled roidb."""
        return os.path.join(self.cache_path, '%s_gt_roidb.pkl' % self.name)

    def _cache_key(self):
        return {'version': CACHE_VERSION, 'label_file': os.path.abspath(self.label_file),
                'signature': _file_signature(self.label_file), 'check_images': self.check_images,
                'min_box_size': config.TRAIN.MIN_BOX_SIZE, 'mask_thresh': config.BBOX_MASK_THRESH}

    def gt_roidb(self):
        """The roidb of this split (see the module docstring), from the cache when it is current.

        The cache is rebuilt when label.txt changes (size, modification time or SHA-1) or when
        the parse options differ.
        """
        key = self._cache_key()
        if os.path.exists(self.cache_file):
            try:
                with open(self.cache_file, 'rb') as f:
                    cached = pickle.load(f)
            except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as err:
                log.warning('ignoring unreadable roidb cache %s (%s)', self.cache_file, err)
                cached = None
            if isinstance(cached, dict) and cached.get('key') == key:
                log.info('%s gt roidb loaded from %s', self.name, self.cache_file)
                self.num_images = len(cached['roidb'])
                return cached['roidb']
            log.info('%s: %s changed, rebuilding the roidb cache', self.name, self.label_file)
        roidb = self._build_roidb()
        tmp = self.cache_file + '.tmp%d' % os.getpid()
        with open(tmp, 'wb') as f:
            pickle.dump({'key': key, 'roidb': roidb}, f, pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, self.cache_file)
        log.info('wrote gt roidb to %s', self.cache_file)
        return roidb

    def _build_roidb(self):
        images = read_label_file(self.label_file)
        roidb = []
        for name, line_no, faces in tqdm(images, desc='reading %s' % self.label_file,
                                         disable=len(images) < 1000, leave=False):
            image_path = os.path.abspath(os.path.join(self.images_path, name))
            size = self._size_of(image_path, line_no)
            if self.image_set == 'test':
                roidb.append({'image': image_path, 'height': size[1], 'width': size[0], 'flipped': False})
                continue
            roi = self._faces_to_roi(faces, image_path, size)
            if self.image_set == 'train' and len(roi['boxes']) == 0:
                continue
            roidb.append(roi)
        max_num_boxes = max((len(roi.get('boxes', ())) for roi in roidb), default=0)
        for roi in roidb:
            roi['max_num_boxes'] = max_num_boxes
        self.num_images = len(roidb)
        log.info('%s: %d images, %d faces, %d with landmarks', self.name, len(roidb),
                 sum(len(roi.get('boxes', ())) for roi in roidb),
                 sum(int((roi['landmarks'][:, 0, 2] >= 0).sum()) for roi in roidb if 'landmarks' in roi))
        return roidb

    def _size_of(self, image_path, line_no):
        """(width, height) of the image, (None, None) where it is absent and not checked."""
        if not os.path.isfile(image_path):
            if self.check_images:
                raise LabelFileError(self.label_file, line_no, 'image not found: %s' % image_path)
            return None, None
        try:
            return _image_size(image_path)
        except OSError as err:
            raise LabelFileError(self.label_file, line_no, 'cannot read image %s: %s' % (image_path, err)) from None

    def _faces_to_roi(self, faces, image_path, size):
        """roidb entry of one image from its (line number, values) face lines."""
        width, height = size
        boxes, landmarks, blur, masks = [], [], [], []
        for line_no, values in faces:
            x1, y1 = values[0], values[1]
            x2, y2 = values[0] + values[2], values[1] + values[3]
            if width is not None:
                x2, y2 = min(width, x2), min(height, y2)
            if x1 >= x2 or y1 >= y2:
                continue
            if config.BBOX_MASK_THRESH > 0 and min(x2 - x1, y2 - y1) < config.BBOX_MASK_THRESH:
                masks.append((x1, y1, x2, y2))
                continue
            if min(x2 - x1, y2 - y1) < config.TRAIN.MIN_BOX_SIZE:
                continue
            boxes.append((x1, y1, x2, y2))
            if len(values) == LONG_LINE:
                landmarks.append(parse_landmarks(values[4:4 + 3 * NUM_LANDMARKS], self.label_file, line_no))
                score = values[-1]
                blur.append(DEFAULT_BLUR if score < 0 else score)
            else:
                landmarks.append(np.full((NUM_LANDMARKS, 3), -1, dtype=np.float32))
                blur.append(0.0)
        num = len(boxes)
        overlaps = np.zeros((num, self.num_classes), dtype=np.float32)
        overlaps[:, 1] = 1.0
        roi = {
            'image': image_path,
            'height': height,
            'width': width,
            'boxes': np.array(boxes, dtype=np.float32).reshape(num, 4),
            'landmarks': np.array(landmarks, dtype=np.float32).reshape(num, NUM_LANDMARKS, 3),
            'blur': np.array(blur, dtype=np.float32),
            'gt_classes': np.ones(num, dtype=np.int32),
            'gt_overlaps': overlaps,
            'max_classes': overlaps.argmax(axis=1) if num else np.zeros(0, dtype=np.int64),
            'max_overlaps': overlaps.max(axis=1) if num else np.zeros(0, dtype=np.float32),
            'flipped': False,
        }
        if masks:
            roi['boxes_mask'] = np.array(masks, dtype=np.float32)
        return roi
