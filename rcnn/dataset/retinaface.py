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
  as the original), clipped to the image's width and height; faces with no area or entirely
  outside the image are dropped, with one warning that counts them and names the first lines
- ``'landmarks'``: (N, 5, 3) float32 (x, y, flag) per point, points in the order left eye,
  right eye, nose, left mouth corner, right mouth corner (the annotation's order); flag 1.0
  visible, 0.0 occluded, -1.0 absent (then x = y = -1); all -1 for label lines without landmarks
- ``'blur'``: (N,) float32 blur score of the annotation, 0.3 where the file gives a negative one
  (0 for label lines without a score)
- ``'gt_classes'``: (N,) int32, 1 (face); ``'gt_overlaps'``: (N, 2) float32 one-hot;
  ``'max_classes'``, ``'max_overlaps'``: their argmax / max per face
- ``'flipped'``: False (True on the entries :meth:`retinaface.append_flipped_images` adds)
- ``'max_num_boxes'``: the largest N over the roidb
- ``'boxes_mask'``: (M, 4) float32, only where ``cfg.BBOX_MASK_THRESH > 0`` moved faces
  smaller than that here (the crop loader greys those regions out)

A number that is not finite (nan, inf) stops the parse with ``label.txt:<line>``. Parsing is fast
(a file the size of WIDER's train split, 12,880 images and 155,000 faces: 0.7 s on 2 cores), so it
is not cached; reading each image's header is slow on a cold disk (0.25 ms per image with a warm
page cache), so the sizes are kept in ``<root_path>/cache/<name>_image_sizes.json`` (plain JSON,
never a pickle) and re-read for any image whose file size or modification time changed.
"""
import json
import logging
import os

import numpy as np
from tqdm import tqdm

from rcnn.dataset.imdb import IMDB
from rcnn.errors import LabelFileError, MissingLabelFile, UserError
from rcnn.utils import safe_write
from rcnn.utils.image_file import OPENCV_MAX_PIXELS, file_header_size
from rcnn.utils.label_file import LONG_LINE, NUM_LANDMARKS, SHORT_LINE, read_label_file  # noqa: F401 (the reader's old home)

log = logging.getLogger(__name__)

# Blur score given to faces whose annotation has a negative one (as the original).
DEFAULT_BLUR = 0.3
CACHE_VERSION = 2
# Dropped boxes named in the one warning of a split.
NAMED_DROPS = 5


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
    """(width, height) of an image file, read from its header (never decoded).

    :raises OSError: when the file cannot be read or its header is not an image's
    """
    size = file_header_size(image_path)
    if size is None:
        raise OSError('not an image whose size can be read from its header')
    return size


class ImageSizeCache:
    """(width, height) of image files, kept in a JSON file between runs.

    An entry is used only while the image's file size and modification time are those recorded;
    an unreadable cache file is ignored (with a warning) and rewritten.

    :param path: the JSON file
    """

    def __init__(self, path):
        self.path = path
        self.entries = {}
        self.changed = False
        if os.path.exists(path):
            try:
                with open(path) as f:
                    cached = json.load(f)
                if cached.get('version') != CACHE_VERSION:
                    raise ValueError('version %r' % cached.get('version'))
                self.entries = {name: tuple(int(v) for v in entry) for name, entry in cached['images'].items()}
            except (OSError, ValueError, TypeError, AttributeError, KeyError) as err:
                log.warning('ignoring unreadable image size cache %s (%s)', path, err)
                self.entries = {}

    def size(self, image_path):
        """(width, height) of the image, read from its header unless the cache holds it."""
        st = os.stat(image_path)
        entry = self.entries.get(image_path)
        if entry is not None and len(entry) == 4 and entry[2:] == (st.st_size, st.st_mtime_ns):
            return entry[:2]
        width, height = _image_size(image_path)
        self.entries[image_path] = (width, height, st.st_size, st.st_mtime_ns)
        self.changed = True
        return width, height

    def save(self):
        """Write the cache when an entry was added (:func:`rcnn.utils.safe_write.open_atomic`: a
        fresh temporary file renamed onto it, never through a link)."""
        if not self.changed:
            return
        with safe_write.open_atomic(self.path, 'w') as f:
            json.dump({'version': CACHE_VERSION, 'images': self.entries}, f)
        self.changed = False


class retinaface(IMDB):
    """One split of the RetinaFace annotations (keeps the original's class name).

    :param image_set: split name: ``train``, ``val`` or ``test`` (a folder under ``data_path``)
    :param root_path: folder for caches (the image size cache goes to ``root_path/cache``)
    :param data_path: folder that holds ``<split>/label.txt`` and ``<split>/images``
    :param check_images: read every image's size (clip boxes to it) and stop on a missing image;
        when False, images that are absent get ``height = width = None`` and unclipped boxes
    :param cfg: the run's configuration, for ``BBOX_MASK_THRESH`` and ``TRAIN.MIN_BOX_SIZE``;
        without one (the original's signature) both are 0, sample_config.py's values: no face is
        masked or dropped for its size
    :param max_pixels: an image whose header declares more pixels is an error naming it and its
        label line (default: OpenCV's decoding limit; 0: none). Sizes come from the headers only.
    """

    def __init__(self, image_set, root_path, data_path, check_images=True, cfg=None,
                 max_pixels=OPENCV_MAX_PIXELS):
        super().__init__('retinaface', image_set, root_path, data_path)
        self.max_pixels = max_pixels
        self.mask_thresh = 0 if cfg is None else cfg.BBOX_MASK_THRESH
        self.min_box_size = 0 if cfg is None else cfg.TRAIN.MIN_BOX_SIZE
        self.label_file = os.path.join(data_path, image_set, 'label.txt')
        self.images_path = os.path.join(data_path, image_set, 'images')
        self.check_images = check_images
        self.classes = ['bg', 'face']
        self.num_classes = len(self.classes)
        if not os.path.isfile(self.label_file):
            raise MissingLabelFile('label file not found: %s (expected <--dataset-path>/<split>/label.txt '
                                    'from the RetinaFace annotation release)' % self.label_file)

    @property
    def cache_file(self):
        """Path of the image size cache (JSON)."""
        return os.path.join(self.cache_path, '%s_image_sizes.json' % self.name)

    def gt_roidb(self):
        """The roidb of this split (see the module docstring), parsed from label.txt."""
        sizes = ImageSizeCache(self.cache_file)
        images = read_label_file(self.label_file)
        roidb, dropped = [], []
        for name, line_no, faces in tqdm(images, desc='reading %s' % self.label_file,
                                         disable=len(images) < 1000, leave=False):
            image_path = os.path.abspath(os.path.join(self.images_path, name))
            size = self._size_of(image_path, line_no, sizes)
            if self.image_set == 'test':
                roidb.append({'image': image_path, 'height': size[1], 'width': size[0], 'flipped': False})
                continue
            roi = self._faces_to_roi(faces, image_path, size, dropped)
            if self.image_set == 'train' and len(roi['boxes']) == 0:
                continue
            roidb.append(roi)
        sizes.save()
        if dropped:
            log.warning('%s: dropped %d boxes with no area or entirely outside their image (%s%s)', self.name,
                        len(dropped), ', '.join('%s:%d' % (self.label_file, n) for n in dropped[:NAMED_DROPS]),
                        ', ...' if len(dropped) > NAMED_DROPS else '')
        max_num_boxes = max((len(roi.get('boxes', ())) for roi in roidb), default=0)
        for roi in roidb:
            roi['max_num_boxes'] = max_num_boxes
        self.num_images = len(roidb)
        log.info('%s: %d images, %d faces, %d with landmarks', self.name, len(roidb),
                 sum(len(roi.get('boxes', ())) for roi in roidb),
                 sum(int((roi['landmarks'][:, 0, 2] >= 0).sum()) for roi in roidb if 'landmarks' in roi))
        return roidb

    def _size_of(self, image_path, line_no, sizes):
        """(width, height) of the image (from the :class:`ImageSizeCache` ``sizes``), (None, None)
        where it is absent and not checked."""
        if not os.path.isfile(image_path):
            if self.check_images:
                raise LabelFileError(self.label_file, line_no, 'image not found: %s' % image_path)
            return None, None
        try:
            width, height = sizes.size(image_path)
        except OSError as err:
            raise LabelFileError(self.label_file, line_no, 'cannot read image %s: %s' % (image_path, err)) from None
        if self.max_pixels and width * height > self.max_pixels:
            limit = ('that OpenCV decodes; remove it from the split or shrink it'
                     if self.max_pixels == OPENCV_MAX_PIXELS
                     else '(--max-megapixels); remove it from the split, shrink it or raise --max-megapixels')
            raise LabelFileError(self.label_file, line_no, 'image %s is %dx%d (%.1f megapixels), over the limit '
                                 'of %.1f %s' % (image_path, width, height, width * height / 1e6,
                                                 self.max_pixels / 1e6, limit))
        return width, height

    def _faces_to_roi(self, faces, image_path, size, dropped):
        """roidb entry of one image from its (line number, values) face lines; the line numbers
        of boxes with no area or entirely outside the image are appended to ``dropped``."""
        width, height = size
        boxes, landmarks, blur, masks = [], [], [], []
        for line_no, values in faces:
            x1, y1 = values[0], values[1]
            x2, y2 = values[0] + values[2], values[1] + values[3]
            if width is not None:
                x2, y2 = min(width, x2), min(height, y2)
            if x1 >= x2 or y1 >= y2 or x2 <= 0 or y2 <= 0:
                dropped.append(line_no)
                continue
            if self.mask_thresh > 0 and min(x2 - x1, y2 - y1) < self.mask_thresh:
                masks.append((x1, y1, x2, y2))
                continue
            if min(x2 - x1, y2 - y1) < self.min_box_size:
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
