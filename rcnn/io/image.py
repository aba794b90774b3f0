"""Training images: the crop augmentation of the original crop loader and the pixel transform.

Per image (:func:`get_crop_image`, which takes the run's configuration as the keyword ``cfg``):
read it (mirrored when the roidb entry is a flipped copy), grey out ``boxes_mask`` regions, pick a
fraction ``s`` of the short side from :data:`CROP_FRACTIONS`, scale the image by ``SIZE / int(s *
short side)`` (``SIZE`` = ``cfg.SCALES[0][0]``, 640) so that the chosen square becomes ``SIZE``
pixels, and cut a random ``SIZE`` x ``SIZE`` window out of it (only the window is resampled, see
:func:`resized_window`). Boxes and landmarks are scaled and shifted with the pixels; faces whose
box centre falls outside the window (or smaller than ``cfg.TRAIN.MIN_BOX_SIZE``) are dropped; up to
:data:`CROP_RETRIES` windows are tried until one keeps a face. Boxes are not clipped to the window
(the original trains on the whole face box). Then colour jitter (``cfg.COLOR_MODE`` /
``cfg.COLOR_JITTERING``) and :func:`transform` to the network input
(:func:`rcnn.processing.pixels.to_network_input`, the pixel normalisation the detector uses too).

Randomness comes from ``rng``: a ``numpy.random.Generator`` / ``RandomState``, or None for the
global ``numpy.random`` state (so that ``np.random.seed`` makes runs repeat).
"""
import cv2
import numpy as np

from rcnn.processing.pixels import from_network_input as transform_inverse  # noqa: F401
from rcnn.processing.pixels import to_network_input as transform
from rcnn.utils.image_file import decode_image, read_image_file

# Fractions of the image's short side that the square crop covers (the original's choices).
CROP_FRACTIONS = (0.3, 0.45, 0.6, 0.8, 1.0)
# Windows tried before a crop without any face is accepted.
CROP_RETRIES = 25
# Grey level of the regions of faces too small to train on (cfg.BBOX_MASK_THRESH).
MASK_GREY = 127


def _luma(im):
    """(H, W) ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B) of a float32 BGR image."""
    return cv2.cvtColor(im, cv2.COLOR_BGR2GRAY)


def _rng(rng):
    return np.random if rng is None else rng


def _randint(rng, low, high):
    """Integer in [low, high) from a Generator, a RandomState or the numpy.random module."""
    return int(rng.integers(low, high)) if hasattr(rng, 'integers') else int(rng.randint(low, high))


def read_roidb_image(roi_rec):
    """BGR uint8 (H, W, 3) image of a roidb entry (its encoded ``'stream'`` bytes when present,
    else the file ``'image'``), mirrored when ``roi_rec['flipped']``.

    :raises rcnn.utils.image_file.ImageFileError: naming the image when it is missing or unreadable
    """
    if 'stream' in roi_rec:
        im = decode_image(roi_rec['stream'], roi_rec['image'])
    else:
        im = read_image_file(roi_rec['image'])
    if roi_rec.get('flipped'):
        im = im[:, ::-1, :]
    return np.ascontiguousarray(im)


def brightness_aug(im, x, rng=None):
    """Scale all channels by 1 + U(-x, x), in place on a float32 image."""
    im *= 1.0 + _rng(rng).uniform(-x, x)
    return im


def contrast_aug(im, x, rng=None):
    """Blend with the image's mean luma: alpha * im + (1 - alpha) * mean, alpha = 1 + U(-x, x)."""
    alpha = 1.0 + _rng(rng).uniform(-x, x)
    mean_luma = float(_luma(im).mean())
    im *= alpha
    im += (1.0 - alpha) * mean_luma
    return im


def saturation_aug(im, x, rng=None):
    """Blend with each pixel's luma: alpha * im + (1 - alpha) * luma, alpha = 1 + U(-x, x)."""
    alpha = 1.0 + _rng(rng).uniform(-x, x)
    luma = _luma(im)[:, :, None]
    im *= alpha
    im += (1.0 - alpha) * luma
    return im


def color_aug(im, x, rng=None, *, color_mode):
    """Colour jitter of strength ``x`` on a float32 BGR image (modified in place and returned).

    ``color_mode`` (cfg.COLOR_MODE) > 1: brightness, contrast and saturation in a random order;
    else brightness only. Values are not clipped (as the original).
    """
    rng = _rng(rng)
    augs = [brightness_aug]
    if color_mode > 1:
        augs = [brightness_aug, contrast_aug, saturation_aug]
        augs = [augs[i] for i in rng.permutation(len(augs))]
    for aug in augs:
        im = aug(im, x, rng)
    return im


def mask_regions(im, boxes_mask):
    """Grey out (in place) the [x1, y1, x2, y2] regions of faces too small to train on."""
    for x1, y1, x2, y2 in np.asarray(boxes_mask).astype(int):
        im[max(y1, 0):y2, max(x1, 0):x2, :] = MASK_GREY
    return im


def _visible_faces(boxes, size, min_box_size):
    """Mask of faces whose box centre lies in [0, size) and whose longer side >= min_box_size."""
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    longer = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return (cx >= 0) & (cy >= 0) & (cx < size) & (cy < size) & (longer >= min_box_size)


def _move_landmarks(landmarks, scale, dx, dy):
    """Scale then shift the present points of (N, 5, 3) landmarks; absent ones (flag -1) stay."""
    moved = landmarks.astype(np.float32, copy=True)
    present = moved[:, :, 2] >= 0
    moved[:, :, 0] = np.where(present, moved[:, :, 0] * scale - dx, moved[:, :, 0])
    moved[:, :, 1] = np.where(present, moved[:, :, 1] * scale - dy, moved[:, :, 1])
    return moved


def resized_window(im, scale, left, up, size):
    """The ``size`` x ``size`` window at (left, up) of ``im`` resized by ``scale``, computed
    without resizing the whole image: same pixels as ``cv2.resize`` (bilinear, fx = fy = scale)
    followed by the crop, at the cost of the window only.

    :return: (size, size, 3) array of ``im``'s dtype
    """
    shift = 0.5 * scale - 0.5  # cv2.resize maps pixel centres: dst + 0.5 = (src + 0.5) * scale
    matrix = np.array([[scale, 0.0, shift - left], [0.0, scale, shift - up]])
    return cv2.warpAffine(im, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def random_crop(im, roi_rec, size, rng=None, min_box_size=0):
    """The square crop of the original loader, on one decoded image.

    :param im: (H, W, 3) image
    :param roi_rec: entry with 'boxes' (N, 4), 'gt_classes' (N,) and optionally 'landmarks'
        (N, 5, 3) and 'blur' (N,) in ``im``'s pixel coordinates
    :param size: side of the output crop (cfg.SCALES[0][0])
    :param min_box_size: faces whose longer side is shorter than this (pixels, in the crop) are
        dropped (cfg.TRAIN.MIN_BOX_SIZE)
    :return: (crop (size, size, 3), new entry with boxes / gt_classes / landmarks / blur of the
        kept faces in crop pixels, im_scale)
    """
    rng = _rng(rng)
    fraction = CROP_FRACTIONS[_randint(rng, 0, len(CROP_FRACTIONS))]
    im_scale = float(size) / int(min(im.shape[:2]) * fraction)
    scaled_w = max(size, int(round(im.shape[1] * im_scale)))
    scaled_h = max(size, int(round(im.shape[0] * im_scale)))

    boxes = np.asarray(roi_rec['boxes'], dtype=np.float32).reshape(-1, 4) * im_scale
    for attempt in range(CROP_RETRIES):
        up = _randint(rng, 0, scaled_h - size + 1)
        left = _randint(rng, 0, scaled_w - size + 1)
        shifted = boxes - np.array([left, up, left, up], dtype=np.float32)
        keep = _visible_faces(shifted, size, min_box_size)
        if keep.any() or attempt == CROP_RETRIES - 1:
            break
    new_rec = dict(roi_rec)
    new_rec['boxes'] = shifted[keep]
    new_rec['gt_classes'] = np.asarray(roi_rec['gt_classes'])[keep]
    if 'landmarks' in roi_rec:
        new_rec['landmarks'] = _move_landmarks(np.asarray(roi_rec['landmarks'])[keep], im_scale, left, up)
    if 'blur' in roi_rec:
        new_rec['blur'] = np.asarray(roi_rec['blur'])[keep]
    return resized_window(im, im_scale, left, up, size), new_rec, im_scale


def get_crop_image1(roidb, rng=None, *, cfg):
    """Crop-augment each entry of a roidb slice (no mixup), as the run's configuration ``cfg`` says.

    :return: (list of (1, 3, SIZE, SIZE) float32 tensors, list of new entries with the kept
        'boxes', 'gt_classes', 'landmarks' in crop pixels and 'im_info' = float32
        [height, width, im_scale])
    """
    rng = _rng(rng)
    size = cfg.SCALES[0][0]
    processed_ims, processed_roidb = [], []
    for roi_rec in roidb:
        im = read_roidb_image(roi_rec)
        if 'boxes_mask' in roi_rec:
            im = mask_regions(im.copy(), roi_rec['boxes_mask'])
        im, new_rec, im_scale = random_crop(im, roi_rec, size, rng, cfg.TRAIN.MIN_BOX_SIZE)
        if cfg.COLOR_MODE > 0 and cfg.COLOR_JITTERING > 0.0:
            im = color_aug(im.astype(np.float32), cfg.COLOR_JITTERING, rng, color_mode=cfg.COLOR_MODE)
        im_tensor = transform(im, cfg.PIXEL_MEANS, cfg.PIXEL_STDS, cfg.PIXEL_SCALE)
        new_rec['im_info'] = np.array([im_tensor.shape[2], im_tensor.shape[3], im_scale], dtype=np.float32)
        processed_ims.append(im_tensor)
        processed_roidb.append(new_rec)
    return processed_ims, processed_roidb


def do_mixup(im1, roi1, im2, roi2):
    """Average two crops; the faces of both are kept (the first image's where one has none)."""
    mixed = {}
    for k in ('boxes', 'landmarks', 'gt_classes'):
        if k not in roi1:
            continue
        v1, v2 = roi1[k], roi2[k]
        mixed[k] = np.concatenate((v1, v2), axis=0) if len(v1) and len(v2) else v1
    mixed['im_info'] = roi1['im_info']
    return (im1 + im2) / 2.0, mixed


def get_crop_image(roidb, rng=None, *, cfg):
    """:func:`get_crop_image1`, then with probability ``cfg.MIXUP`` mix every crop with
    another one of the same slice (as the original).

    :param cfg: the run's configuration (a required keyword: the original's signature had none)
    """
    rng = _rng(rng)
    ims, roidbs = get_crop_image1(roidb, rng, cfg=cfg)
    if cfg.MIXUP > 0.0 and len(ims) > 1 and rng.random() < cfg.MIXUP:
        for i in range(len(ims)):
            j = _randint(rng, 0, len(ims) - 1)
            j += j >= i
            ims[i], roidbs[i] = do_mixup(ims[i], roidbs[i], ims[j], roidbs[j])
    return ims, roidbs


def tensor_vstack(tensor_list, pad=0):
    """Stack arrays along axis 0, padding the other axes to the largest size with ``pad``.

    :param tensor_list: arrays of equal ndim (the first one's dtype is kept)
    :return: array of shape (sum of leading sizes, max of each other axis)
    """
    shapes = np.array([t.shape for t in tensor_list])
    out_shape = (int(shapes[:, 0].sum()),) + tuple(int(s) for s in shapes[:, 1:].max(axis=0))
    out = np.full(out_shape, pad, dtype=tensor_list[0].dtype)
    start = 0
    for t in tensor_list:
        out[(slice(start, start + t.shape[0]),) + tuple(slice(0, s) for s in t.shape[1:])] = t
        start += t.shape[0]
    return out
