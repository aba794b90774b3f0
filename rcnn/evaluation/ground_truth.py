"""WIDER FACE ground truth: the official .mat files of eval_tools, or a RetinaFace ``label.txt``.

- ``wider_face_val.mat`` (events, files, int32 ``x y w h`` boxes) and ``wider_{easy,medium,hard}_val.mat``
  (``gt_list``: 1-based indices of the faces that count in each setting) give three settings.
- A RetinaFace ``label.txt`` (read by the project's one reader,
  :func:`rcnn.utils.label_file.read_label_file`) gives one setting, ``'all'``: every face counts.
"""
import collections
import os
import struct
import zlib

import numpy as np

from rcnn.errors import GroundTruthError, LabelFileError
from rcnn.utils.label_file import read_label_file

SETTINGS = ('easy', 'medium', 'hard')

GroundTruth = collections.namedtuple('GroundTruth', 'keys boxes settings')
GroundTruth.__doc__ = """Ground truth of a WIDER-style split.

keys: list of '<event>/<image>' (no extension), one per image.
boxes: list of (M_i, 4) [x, y, w, h] arrays in pixels (int32 from the .mat files).
settings: {name: list of 0-based int arrays}, per image the faces that count in that setting.
"""



def image_key(name):
    """'<event>/<image>' from '<event>/<image>.jpg', './<event>/<image>.txt' and the like."""
    name = name.strip().replace('\\', '/')
    if name.startswith('./'):
        name = name[2:]
    stem, ext = os.path.splitext(name)
    return stem if ext.lower() in ('.jpg', '.jpeg', '.png', '.txt') else name


def _mat_strings(cell):
    return [str(item[0]) for item in cell]


def load_ground_truth(gt_dir, settings=SETTINGS):
    """Read the official .mat files of ``gt_dir`` with scipy.

    :return: :class:`GroundTruth` with one entry per val image, in the files' event order.
    """
    if not os.path.isdir(gt_dir):
        raise GroundTruthError('WIDER ground truth not found: %s is neither a folder of the official '
                               '.mat files nor a label.txt' % gt_dir)
    keys, boxes = _read_mat(os.path.join(gt_dir, 'wider_face_val.mat'),
                            'event_list, file_list, face_bbx_list', _faces_of)
    keep = {}
    for setting in settings:
        path = os.path.join(gt_dir, 'wider_%s_val.mat' % setting)
        keep[setting] = _read_mat(path, 'gt_list', _counted_faces_of)
        if len(keep[setting]) != len(keys):
            raise GroundTruthError('%s: gt_list has %d images, wider_face_val.mat %d'
                                   % (path, len(keep[setting]), len(keys)))
    return GroundTruth(keys, boxes, keep)


def _faces_of(face_mat):
    """(keys, boxes) of the loaded ``wider_face_val.mat``."""
    events = _mat_strings(face_mat['event_list'][:, 0])
    keys, boxes = [], []
    for event, files, event_boxes in zip(events, face_mat['file_list'][:, 0],
                                         face_mat['face_bbx_list'][:, 0]):
        keys += ['%s/%s' % (event, name) for name in _mat_strings(files[:, 0])]
        boxes += [np.asarray(b, dtype=np.int32).reshape(-1, 4) for b in event_boxes[:, 0]]
    return keys, boxes


def _counted_faces_of(setting_mat):
    """Per image, the 0-based indices of the faces that count, of a loaded ``wider_<s>_val.mat``."""
    return [np.asarray(k, dtype=np.int64).ravel() - 1
            for event_list in setting_mat['gt_list'][:, 0] for k in event_list[:, 0]]


# What scipy's loadmat raises on bytes that are not a complete .mat file (besides MatReadError).
_CORRUPT_MAT_ERRORS = (ValueError, OSError, TypeError, IndexError, KeyError, EOFError,
                       NotImplementedError, struct.error, zlib.error)


def _read_mat(path, fields, parse):
    """``parse(contents of the .mat file)``; GroundTruthError naming the file when it is missing,
    corrupt or not laid out as the official one (``fields`` names what it should hold)."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError
    corrupt = _CORRUPT_MAT_ERRORS + (MatReadError,)
    if not os.path.isfile(path):
        raise GroundTruthError('WIDER ground truth file not found: %s (the eval_tools folder of '
                               'WIDER FACE has it; see data/README.md)' % path)
    try:
        contents = loadmat(path)
    except corrupt as err:
        raise GroundTruthError('%s is not a readable .mat file (truncated or corrupt?): %s'
                               % (path, err)) from None
    try:
        return parse(contents)
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise GroundTruthError('%s does not hold the official WIDER FACE layout (%s): %r'
                               % (path, fields, err)) from None


def load_label_txt(path):
    """Ground truth from a RetinaFace ``label.txt`` (``# <event>/<image>.jpg`` then ``x y w h ...``),
    read by the project's one label.txt parser (:func:`rcnn.utils.label_file.read_label_file`).

    :return: :class:`GroundTruth` with the single setting ``'all'`` (every face counts).
    :raises GroundTruthError: naming the file (and line) that cannot be read
    """
    try:
        images = read_label_file(path)
    except LabelFileError as err:
        raise GroundTruthError(str(err)) from None
    except OSError as err:
        raise GroundTruthError('cannot read %s: %s' % (path, err.strerror or err)) from None
    if not images:
        raise GroundTruthError('%s lists no images (no "# <event>/<image>.jpg" line): is it the '
                               'label.txt of the split?' % path)
    keys = [image_key(name) for name, _, _ in images]
    boxes = [np.asarray([values[:4] for _, values in faces], dtype=np.float64).reshape(-1, 4)
             for _, _, faces in images]
    return GroundTruth(keys, boxes, {'all': [np.arange(len(b)) for b in boxes]})


def load_any_ground_truth(gt):
    """:class:`GroundTruth` of a label.txt file or a folder of the official .mat files."""
    return load_label_txt(gt) if os.path.isfile(gt) else load_ground_truth(gt)

