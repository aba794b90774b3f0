"""The inputs of a batch detection job: a folder tree or a list file -> (key, file) pairs, and
reading one input header-first.

The key is what records call the image: the path relative to the folder (``/``-separated), or the
list file's line as written.
"""
import collections
import logging
import os

from rcnn.errors import ImageFileError, ImageTooLargeError, UserError
from rcnn.pipeline.records import file_stamp
from rcnn.pipeline.settings import SCALE_OPTIONS, image_scales
from rcnn.utils.cli_guards import check_network_input
from rcnn.utils.image_file import IMAGE_EXTENSIONS, OPENCV_MAX_PIXELS, decode_image, header_size

log = logging.getLogger(__name__)

InputItem = collections.namedtuple('InputItem', 'key file')

# One input after reading: image (H, W, 3) uint8 BGR or None; error: None or why it is not
# detected; stamp: (bytes, mtime_ns) of the file.
Decoded = collections.namedtuple('Decoded', 'key image error stamp')


def list_inputs(source, exclude=None):
    """The images of a folder tree (sorted, recursive) or of a list file (one path per line).

    :param source: a folder, or a text file naming one image per line (relative paths are relative
        to the list file's folder; blank lines and lines starting with ``#`` are skipped)
    :param exclude: a folder whose contents are never inputs (the output folder)
    :return: list of :data:`InputItem` (key, file); a list file's repeated lines are kept once
    :raises UserError: when ``source`` does not exist or is not a readable text file
    """
    if os.path.isdir(source):
        return _list_folder(source, exclude)
    if not os.path.isfile(source):
        raise UserError('input not found: %s (pass a folder of images or a text file listing one '
                        'image path per line)' % source)
    return _list_file(source, exclude)


def inside_folder(path, folder):
    """Whether ``path`` is ``folder`` or lies under it (links resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _list_folder(root, exclude):
    items = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders
                               if exclude is None or not inside_folder(os.path.join(folder, d), exclude))
        for name in sorted(names):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                path = os.path.join(folder, name)
                items.append(InputItem(os.path.relpath(path, root).replace(os.sep, '/'), path))
    return sorted(items)


def _list_file(list_path, exclude):
    base = os.path.dirname(os.path.abspath(list_path))
    try:
        with open(list_path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError('cannot read the list file %s: %s (it must be a UTF-8 text file naming one '
                        'image per line)' % (list_path, getattr(err, 'strerror', None) or err))
    items, seen = [], set()
    for line in lines:
        key = line.strip()
        if not key or key.startswith('#') or key in seen:
            continue
        seen.add(key)
        path = os.path.join(base, key)
        if exclude is not None and inside_folder(path, exclude):
            log.warning('%s: %s lies in the output folder: skipped', list_path, key)
            continue
        items.append(InputItem(key, path))
    return items


def check_output_folder(source, output):
    """UserError when the output folder is the input folder or lies inside it (its files would be
    listed as inputs on the next run), or is an existing file."""
    if os.path.exists(output) and not os.path.isdir(output):
        raise UserError('--output %s is an existing file; name a folder for the results' % output)
    if os.path.isdir(source) and inside_folder(output, source):
        raise UserError('--output %s lies inside the input folder %s: choose a folder outside it'
                        % (output, source))


def _check_header(key, data, settings):
    """ImageTooLargeError when the header declares an image over OpenCV's limit, or one whose
    network input (or, with --letterbox, the image itself) would pass --max-megapixels; nothing
    is decoded before this check."""
    size = header_size(data)
    if size is None:
        return
    width, height = size
    if width * height > OPENCV_MAX_PIXELS:
        raise ImageTooLargeError('%s: the image is %dx%d (%.1f megapixels), over OpenCV\'s limit of '
                                 '%.1f; it was not decoded' % (key, width, height, width * height / 1e6,
                                                               OPENCV_MAX_PIXELS / 1e6))
    scales = [1.0] if settings.letterbox is not None else image_scales(settings, (height, width))
    check_network_input(key, (height, width), scales, settings.max_megapixels, SCALE_OPTIONS)


def decode(item, settings):
    """:data:`Decoded` of one input: its header checked against ``settings`` first, then decoded."""
    stamp = file_stamp(item.file)
    try:
        if not os.path.isfile(item.file):
            raise ImageFileError('cannot read image %s: %s' % (
                item.file, 'it is a folder' if os.path.isdir(item.file) else 'no such file'))
        with open(item.file, 'rb') as f:
            data = f.read()
        _check_header(item.key, data, settings)
        return Decoded(item.key, decode_image(data, item.file), None, stamp)
    except (ImageFileError, ImageTooLargeError) as err:  # ImageFileError is an OSError: first
        return Decoded(item.key, None, str(err), stamp)
    except OSError as err:
        return Decoded(item.key, None, 'cannot read image %s: %s' % (item.file, err.strerror or err), stamp)
