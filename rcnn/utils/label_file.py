"""The one reader of the RetinaFace ``label.txt`` format (training data, validation, the evaluator).

``# <relative image path>`` starts an image; each following line is a face: ``x y w h`` (val and
test format) or ``x y w h`` followed by five ``lx ly flag`` landmark triples and a blur score (20
numbers, train format). The file is UTF-8 text; a byte-order mark at its start is accepted.
"""
import io
import math

from rcnn.errors import LabelFileError
from rcnn.utils.text_file import NotUTF8, read_utf8

NUM_LANDMARKS = 5
# Numbers on a face line: x y w h, or x y w h + 5 * (x, y, flag) + blur.
SHORT_LINE, LONG_LINE = 4, 4 + NUM_LANDMARKS * 3 + 1


def _text_lines(path):
    """The lines of a UTF-8 text file (a leading byte-order mark dropped), split as text-mode
    ``open`` splits them (``\\n``, ``\\r\\n`` or ``\\r``).

    :raises LabelFileError: naming the line of the first byte that is not UTF-8
    """
    try:
        text = read_utf8(path, allow_bom=True)
    except NotUTF8 as err:
        raise LabelFileError(path, err.line, '%s; label.txt must be UTF-8' % err) from None
    return io.StringIO(text, newline=None)


def read_label_file(path):
    """Parse a RetinaFace ``label.txt``.

    :param path: the file
    :return: list of (relative image path, line number of its '#' line, list of (line number,
        tuple of floats)) in file order
    :raises LabelFileError: naming the file and line of a face line before any '#' line, a
        non-numeric or non-finite value, a count other than 4 or 20 numbers, a duplicate image,
        an empty name, or bytes that are not UTF-8 (a UTF-8 byte-order mark at the start is
        accepted)
    """
    images, seen = [], set()
    for line_no, line in enumerate(_text_lines(path), 1):
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
        if not all(math.isfinite(v) for v in values):
            raise LabelFileError(path, line_no, 'a number is not finite (nan or inf): %r' % line)
        if len(values) not in (SHORT_LINE, LONG_LINE):
            raise LabelFileError(path, line_no, 'expected %d numbers (x y w h) or %d (x y w h, '
                                 '5 landmarks x y flag, blur), got %d'
                                 % (SHORT_LINE, LONG_LINE, len(values)))
        images[-1][2].append((line_no, values))
    return images
