"""The one way an image file becomes pixels: test.py, test_widerface.py, training validation, the
folder pipeline and the library all read images here (and the front ends write them here).

The result is what ``cv2.imread(path)`` gives: (H, W, 3) uint8 BGR, with the EXIF orientation
applied, 16-bit images scaled to 8 bits, alpha dropped and grey expanded to three channels.
"""
import io
import os
import threading
import warnings

import cv2
import numpy as np

from rcnn.errors import ImageFileError, ImageTooLargeError, UserError
from rcnn.utils import safe_write

# File name endings taken as images when a folder is listed (compared in lower case).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


# OpenCV's own decoding limit (CV_IO_MAX_IMAGE_PIXELS): a larger image is refused before decoding.
OPENCV_MAX_PIXELS = 1 << 30
# header_size lifts PIL's global size limit while it reads a header; one thread at a time.
_PIL_LIMIT_LOCK = threading.Lock()


def _pil_size(source):
    """(width, height) that PIL reads from the header of ``source`` (a path or a file object),
    with PIL's own size limit lifted (the caller judges the size); None when PIL cannot tell."""
    from PIL import Image
    with _PIL_LIMIT_LOCK, warnings.catch_warnings():  # the lock: threads restore the limit in turn
        warnings.simplefilter('ignore', Image.DecompressionBombWarning)
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(source) as im:  # reads the header only
                return im.size
        except Exception:  # noqa: BLE001 - any header PIL cannot parse: leave the verdict to OpenCV
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def header_size(data):
    """(width, height) in pixels that an encoded image's header declares, read without decoding
    the pixels; None when the header is not one PIL knows (OpenCV will then judge the bytes).

    :param data: the file's bytes (``bytes`` or a uint8 numpy array)
    """
    return _pil_size(io.BytesIO(bytes(data)))


def file_header_size(path):
    """(width, height) that the header of the image file ``path`` declares, reading only the
    first bytes of the file; None when the header is not one PIL knows.

    :raises OSError: when the file cannot be opened
    """
    with open(path, 'rb') as f:
        return _pil_size(f)


def check_header_pixels(data, name, max_pixels=OPENCV_MAX_PIXELS):
    """Refuse an image whose header declares more than ``max_pixels`` pixels, before decoding.

    :raises ImageTooLargeError: naming the file and the declared size
    """
    size = header_size(data)
    if size is not None and max_pixels and size[0] * size[1] > max_pixels:
        raise ImageTooLargeError('%s: the image is %dx%d (%.1f megapixels), over the limit of %.1f; it was '
                                 'not decoded' % (name, size[0], size[1], size[0] * size[1] / 1e6, max_pixels / 1e6))


def decode_image(data, name='image'):
    """(H, W, 3) uint8 BGR pixels of encoded image bytes (JPEG, PNG, ...).

    :param data: the file's bytes (``bytes`` or a uint8 numpy array)
    :param name: what to call the image in the error message (its path)
    :raises ImageFileError: when the bytes are not an image OpenCV can decode
    :raises ImageTooLargeError: when the header declares more pixels than OpenCV decodes
        (:data:`OPENCV_MAX_PIXELS`); nothing is decoded then
    """
    buffer = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else data
    check_header_pixels(buffer, name, OPENCV_MAX_PIXELS)
    try:
        img = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
    except cv2.error:  # a header PIL cannot read but OpenCV refuses (its own size limit)
        img = None
    if img is None or img.size == 0:
        raise ImageFileError('cannot read image %s: %s' % (
            name, 'empty file' if not buffer.size else 'not an image OpenCV can decode'))
    return img


def read_image_file(path):
    """(H, W, 3) uint8 BGR pixels of an image file, as ``cv2.imread(path)`` gives them.

    :raises ImageFileError: naming the file when it is missing, a folder, unreadable or not
        decodable
    """
    if not os.path.exists(path):
        raise ImageFileError('cannot read image %s: no such file' % path)
    if os.path.isdir(path):
        raise ImageFileError('cannot read image %s: it is a folder' % path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise ImageFileError('cannot read image %s: %s' % (path, err.strerror or err)) from None
    return decode_image(data, path)


def _imwrite(path, img, params):
    try:
        return cv2.imwrite(path, img, list(params))
    except cv2.error:  # an extension OpenCV has no encoder for
        return False


def write_image_file(path, img, params=()):
    """``cv2.imwrite(path, img, params)``, the format chosen by the file name's extension (``params``:
    OpenCV's encoder flags, e.g. ``(cv2.IMWRITE_JPEG_QUALITY, 95)``), written as
    :func:`rcnn.utils.safe_write.write_with` writes (a link at ``path`` is replaced, not followed).

    :raises ImageFileError: naming the file when it cannot be written
    """
    try:
        written = safe_write.write_with(path, lambda tmp: _imwrite(tmp, img, params))
    except OSError:  # the writer failed, or the folder is missing or read-only
        written = False
    if not written:
        raise ImageFileError('cannot write %s (does its folder exist, is it writable, and is the '
                             'extension an image one such as .jpg or .png?)' % path)
