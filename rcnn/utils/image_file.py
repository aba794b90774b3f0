"""The one way an image file becomes pixels: test.py, test_widerface.py, training validation, the
folder pipeline and the library all read images here (and the front ends write them here).

The result is what ``cv2.imread(path)`` gives: (H, W, 3) uint8 BGR, with the EXIF orientation
applied, 16-bit images scaled to 8 bits, alpha dropped and grey expanded to three channels.
"""
import os

import cv2
import numpy as np

from .cli import UserError

# File name endings taken as images when a folder is listed (compared in lower case).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


class ImageFileError(UserError, IOError):
    """An image file that is missing, cannot be decoded or cannot be written; the message names
    the file."""


def decode_image(data, name='image'):
    """(H, W, 3) uint8 BGR pixels of encoded image bytes (JPEG, PNG, ...).

    :param data: the file's bytes (``bytes`` or a uint8 numpy array)
    :param name: what to call the image in the error message (its path)
    :raises ImageFileError: when the bytes are not an image OpenCV can decode
    """
    buffer = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else data
    img = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
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


def write_image_file(path, img):
    """``cv2.imwrite(path, img)``, the format chosen by the file name's extension.

    :raises ImageFileError: naming the file when it cannot be written
    """
    try:
        written = cv2.imwrite(path, img)
    except cv2.error:  # an extension OpenCV has no encoder for
        written = False
    if not written:
        raise ImageFileError('cannot write %s (does its folder exist, is it writable, and is the '
                             'extension an image one such as .jpg or .png?)' % path)
