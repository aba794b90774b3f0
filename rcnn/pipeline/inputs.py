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
from rcnn.utils.cli_guards import DECODE_FACTOR, check_network_input
from rcnn.utils.image_file import IMAGE_EXTENSIONS, decode_image, header_size
from rcnn.utils.text_file import NotUTF8, read_utf8

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
        lines = read_utf8(list_path, allow_bom=True).splitlines()
    except NotUTF8 as err:
        raise UserError('%s:%d: %s; the list file must be UTF-8 text naming one image per line'
                        % (list_path, err.line, err)) from None
    except OSError as err:
        raise UserError('cannot read the list file %s: %s (it must be a UTF-8 text file naming one '
                        'image per line)' % (list_path, err.strerror or err)) from None
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


def check_header(key, data, scales_of, max_megapixels, scale_options):
    """Refuse an encoded image by its header, before decoding: when its network input would pass
    ``max_megapixels``, or else the image itself ``DECODE_FACTOR`` times that (0: no limit). Headers PIL
    cannot read pass (the decoded image is checked then); OpenCV's own limit is
    :func:`decode_image`'s check.

    :param scales_of: function of the image's (H, W) giving the resize factors detection will use,
        or None when the network input is checked elsewhere (--letterbox)
    :raises ImageTooLargeError: naming ``key`` and the sizes
    """
    size = header_size(data)
    if size is None or not max_megapixels:
        return
    width, height = size
    if scales_of is not None:
        check_network_input(key, (height, width), scales_of((height, width)), max_megapixels,
                            scale_options)
    if width * height > DECODE_FACTOR * max_megapixels * 1e6:
        raise ImageTooLargeError(
            '%s: the image is %dx%d (%.1f megapixels, %.1f GB once decoded), over %d x '
            '--max-megapixels %g; it was not decoded (raise --max-megapixels, 0: no limit)'
            % (key, width, height, width * height / 1e6, width * height * 3 / 1e9, DECODE_FACTOR,
               max_megapixels))


def read_image_checked(path, key, scales_of, max_megapixels, scale_options):
    """(H, W, 3) uint8 BGR pixels of an image file, its header checked first (:func:`check_header`).

    :raises ImageFileError: when the file cannot be read or decoded
    :raises ImageTooLargeError: when it is too large (by its header: its network input, or over
        OpenCV's own limit)
    """
    if not os.path.isfile(path):
        raise ImageFileError('cannot read image %s: %s' % (
            path, 'it is a folder' if os.path.isdir(path) else 'no such file'))
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as err:
        raise ImageFileError('cannot read image %s: %s' % (path, err.strerror or err)) from None
    check_header(key, data, scales_of, max_megapixels, scale_options)
    return decode_image(data, path)


def _scales_of(settings):
    """The resize factors by image shape under ``settings`` (None for --letterbox: its canvas is
    checked once, up front)."""
    if settings.letterbox is not None:
        return None
    return lambda shape: image_scales(settings, shape)


def decode(item, settings, scale_options=SCALE_OPTIONS):
    """:data:`Decoded` of one input: its header checked against ``settings`` first, then decoded
    (``scale_options``: the options named when the image is too large)."""
    stamp = file_stamp(item.file)  # before reading: a file changed meanwhile is detected again
    try:
        image = read_image_checked(item.file, item.key, _scales_of(settings), settings.max_megapixels,
                                   scale_options)
        return Decoded(item.key, image, None, stamp)
    except (ImageFileError, ImageTooLargeError) as err:
        return Decoded(item.key, None, str(err), stamp)


def read_checked_image(path, settings, scale_options=SCALE_OPTIONS):
    """(H, W, 3) uint8 BGR pixels of one image file, checked header-first against ``settings``
    and again once decoded (the single-image commands' reading).

    :raises UserError: naming the file when it cannot be read or is too large
    """
    image = read_image_checked(path, path, _scales_of(settings), settings.max_megapixels, scale_options)
    check_network_input(path, image.shape, image_scales(settings, image.shape),
                        settings.max_megapixels, scale_options)
    return image
