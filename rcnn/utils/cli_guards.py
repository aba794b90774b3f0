"""Guards of the command-line front ends (test.py, test_widerface.py, tools/export_onnx.py, the
folder and Ray tools, the evaluator), and how their one-line errors name a few of many items (:func:`first_few`,
:func:`skipped_images_error`).

The detector's extra passes for faces the default call misses (:func:`add_orientation_options`):
``--pyramid`` and ``--rotations auto|0,90,180,270`` (parsed by :func:`rotations`); the front ends
pass them to ``detect``/``detect_batch`` only when they differ from the defaults.

Never write over an input: :func:`refuse_overwriting_inputs` compares resolved paths (and, for
files that exist, the files themselves, so links and hard links count) before any work.

A pixel budget for very large inputs: time and memory of one forward grow with the pixels the
network sees (an 8000x8000 image at scale 1, 64 megapixels, takes about 30 s and 5 GB with
mnet.25 on a 2-core CPU; R50 needs several times that). Rather than run out of memory, or
silently downscale (which changes the detections), the command-line front ends refuse an image
whose largest network input would pass ``--max-megapixels`` (default 16, i.e. 4000x4000) and say
what to change; the batch tools and front ends also refuse, from the header and before decoding,
an image whose own pixels pass ``DECODE_FACTOR`` times the budget. ``--max-megapixels 0``
removes the limit. The library (``RetinaFace.detect``) has no such limit.
"""
import argparse
import os

from rcnn.utils.cli import number
from rcnn.errors import ImageTooLargeError, UserError

DEFAULT_MAX_MEGAPIXELS = 16.0
# The decoded image may hold this many times --max-megapixels (a 2x downscale per side to the
# network's budget), checked from the header before decoding: a 48-megapixel photo passes the
# default 16, a 24000x24000 PNG (576 megapixels, 1.7 GB once decoded) does not.
DECODE_FACTOR = 4
#: How many of a list of failed or missing items one error line names.
NAMED = 3


def add_max_megapixels_option(parser):
    """Add ``--max-megapixels`` (a float >= 0, 0 = no limit) to an argparse parser."""
    parser.add_argument('--max-megapixels', type=number(0), default=DEFAULT_MAX_MEGAPIXELS,
                        metavar='MP',
                        help='refuse an image whose network input passes MP megapixels, or whose '
                             'decoded pixels pass %d x MP, as a guard against running out of memory; '
                             '0: no limit (default %%(default)s)' % DECODE_FACTOR)


QUARTER_TURNS = (0, 90, 180, 270)


def rotations(text):
    """An argparse ``type=`` for ``--rotations``: ``'auto'``, or a comma-separated list of quarter
    turns in degrees (0, 90, 180, 270) -> their sorted tuple without repeats."""
    text = text.strip().lower()
    if text == 'auto':
        return 'auto'
    try:
        turns = {int(part) for part in text.split(',')}
    except ValueError:
        turns = None
    if not turns or not turns <= set(QUARTER_TURNS):
        raise argparse.ArgumentTypeError("must be 'auto' or a comma-separated list of 0, 90, 180, "
                                         "270 (degrees), got %r" % text)
    return tuple(sorted(turns))


def add_orientation_options(parser):
    """Add ``--pyramid`` and ``--rotations`` (the detector's passes for faces the default call
    misses: close-ups, turned photos) to an argparse parser."""
    parser.add_argument('--pyramid', action='store_true',
                        help='also detect at the smaller scales that find faces filling most of the '
                             'image (close-ups)')
    parser.add_argument('--rotations', type=rotations, default=(0,), metavar='auto|0,90,180,270',
                        help="quarter turns to try for photos stored turned: 'auto' finds the "
                             "orientation, or a list of degrees (default 0: upright only)")


def check_network_input(name, image_shape, scales, max_megapixels, scale_options):
    """Raise :class:`ImageTooLargeError` when the largest network input passes the budget.

    :param name: the image's path, named in the message
    :param image_shape: (H, W, ...) of the decoded image, in pixels
    :param scales: the resize factors detection will run at (the largest one counts)
    :param max_megapixels: the budget in millions of pixels; 0 or None: no limit
    :param scale_options: the options that set the scale, named in the message (e.g.
        ``'--target-size / --max-size'``)
    """
    if not max_megapixels:
        return
    height, width = image_shape[:2]
    scale = max(scales)
    input_height, input_width = int(round(height * scale)), int(round(width * scale))
    megapixels = input_height * input_width / 1e6
    if megapixels > max_megapixels:
        raise ImageTooLargeError(
            '%s: %dx%d pixels at scale %.3g give the network a %dx%d input (%.1f megapixels), over '
            'the limit of %g megapixels; lower the scale (%s) or raise --max-megapixels (0: no '
            'limit)' % (name, width, height, scale, input_width, input_height, megapixels,
                        max_megapixels, scale_options))


def same_file(path, other):
    """Whether two paths name the same file (resolved links, or one file under two names)."""
    if os.path.realpath(path) == os.path.realpath(other):
        return True
    try:
        return os.path.samefile(path, other)
    except OSError:  # one of them does not exist
        return False


def _file_id(path):
    """(device, inode) of an existing file, None for a path that does not exist."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def refuse_overwriting_inputs(inputs, outputs, option):
    """UserError when any of the ``outputs`` paths names one of the ``inputs`` files (as
    :func:`same_file` compares them; each path is resolved once, so a folder of many images costs
    linear time).

    :param option: the command-line option that chose the outputs, named in the message
    """
    by_real_path, by_file_id = {}, {}
    for path in inputs:
        by_real_path.setdefault(os.path.realpath(path), path)
        file_id = _file_id(path)
        if file_id is not None:
            by_file_id.setdefault(file_id, path)
    for output in outputs:
        path = by_real_path.get(os.path.realpath(output)) or by_file_id.get(_file_id(output))
        if path is not None:
            raise UserError('%s %s would overwrite the input %s: choose another %s'
                            % (option, output, path, option))


def first_few(items, count=NAMED):
    """``'a, b, c, ...'``: the first ``count`` items, for a one-line summary of a long list."""
    items = [str(item) for item in items]
    return ', '.join(items[:count]) + (', ...' if len(items) > count else '')


def skipped_images_error(failed, total):
    """The UserError that ends a run which skipped some images (each reported on its own
    ``skipped:`` line): how many of ``total``, and the first few names."""
    return UserError('%d of %d images could not be processed and have no output (see the "skipped" '
                     'lines above): %s' % (len(failed), total, first_few(failed)))
