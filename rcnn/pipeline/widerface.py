"""test_widerface.py's body: detect the WIDER FACE images and write the official submission files
``<output>/<event>/<image>.txt``; optionally score them with :mod:`rcnn.evaluation`.

The functions take the parsed options of test_widerface.py (``options``: an object with its
attributes: prefix, epoch, network, nms, nocrop, images, dataset_path, image_set, image_list,
output, overwrite, allow_missing, part, parts, thresh, mode, target_size, max_size, scale, flip,
pyramid, rotations, max_megapixels).

A submission folder holds one run's files: the settings that made them (the model's digest and
every detection option) are recorded in ``<output>.run.json`` BESIDE the folder, since the
submission format leaves no room inside it (the official tool and the Python port read every entry
there as an event). A rerun with other settings is refused, naming them; ``--overwrite`` redoes
the images under the new settings.
"""
import json
import logging
import os
import sys

import numpy as np
from tqdm import tqdm

from rcnn.detection.base import target_scale
from rcnn.errors import LabelFileError, UserError
from rcnn.evaluation import widerface_eval
from rcnn.pipeline.inputs import read_image_checked
from rcnn.pipeline.settings import extra_keywords
from rcnn.pipeline.store import differing_settings, file_digest
from rcnn.utils import safe_write
from rcnn.utils.checkpoint import params_path, symbol_path
from rcnn.utils.cli_guards import check_network_input, first_few, refuse_overwriting_inputs
from rcnn.utils.image_file import IMAGE_EXTENSIONS
from rcnn.utils.label_file import read_label_file
from rcnn.utils.text_file import NotUTF8, read_utf8

logger = logging.getLogger(__name__)

PYRAMID_SIZES = (500, 800, 1100, 1400, 1700)
PYRAMID_BASE = (800, 1200)
SCALE_OPTIONS = '--scale, or --target-size / --max-size, with --mode 0'
RUN_RECORD_SUFFIX = '.run.json'  # <output>.run.json: the settings that made a submission folder


def _checked_name(path, name):
    """A list entry as '<event>/<image>' (its last two parts, as the original reads absolute
    paths); UserError naming the file and the entry when those parts hold '..' (it would read and
    write outside the image and output folders)."""
    parts = name.replace('\\', '/').split('/')[-2:]
    if any(part in ('', '.', '..') for part in parts[:-1]) or parts[-1] in ('', '.', '..'):
        raise UserError('%s: the entry %r leaves the image folder (".." in <event>/<image>); list '
                        'images as <event>/<image>.jpg' % (path, name))
    return '/'.join(parts)


def read_image_list(path):
    """Image names '<event>/<image>.jpg' from a RetinaFace label.txt (read by the project's one
    parser, :func:`rcnn.dataset.retinaface.read_label_file`) or a wider_val.txt (one name a line).

    :raises UserError: naming the file (and line or entry) that cannot be read or used
    """
    try:
        lines = [line.strip() for line in read_utf8(path, allow_bom=True).splitlines() if line.strip()]
        names = ([name for name, _, _ in read_label_file(path)]
                 if any(line.startswith('#') for line in lines) else lines)
    except LabelFileError as err:
        raise UserError(str(err)) from None
    except NotUTF8 as err:
        raise UserError('%s:%d: %s; the image list must be UTF-8' % (path, err.line, err)) from None
    except OSError as err:
        raise UserError('cannot read the image list %s: %s' % (path, err.strerror or err)) from None
    return [_checked_name(path, name) for name in names]


def find_images(image_root, image_list=None):
    """The images to process, as '<event>/<image>.jpg' relative to ``image_root``."""
    if image_list is None:
        parent = os.path.dirname(os.path.normpath(image_root))
        image_list = next((os.path.join(parent, name) for name in ('label.txt', 'wider_val.txt')
                           if os.path.isfile(os.path.join(parent, name))), None)
    if image_list is not None:
        return read_image_list(image_list)
    if not os.path.isdir(image_root):
        raise UserError('image folder not found: %s (pass --images, or --dataset-path and '
                        '--image-set)' % image_root)
    names = []
    for event in sorted(os.listdir(image_root)):
        folder = os.path.join(image_root, event)
        if os.path.isdir(folder):
            names += ['%s/%s' % (event, name) for name in sorted(os.listdir(folder))
                      if name.lower().endswith(IMAGE_EXTENSIONS)]
    return names


def scales_for(image_shape, options):
    """(scales, do_flip) for one image under the chosen ``--mode``."""
    if options.mode == 0:
        if options.scale is not None:
            return [options.scale], options.flip
        return [target_scale(image_shape, options.target_size, options.max_size)], options.flip
    base = target_scale(image_shape, *PYRAMID_BASE)
    return [float(size) / PYRAMID_BASE[0] * base for size in PYRAMID_SIZES], True


def submission_text(name, faces):
    """The submission file for one image.

    :param name: '<event>/<image>.jpg'
    :param faces: (N, >=5) [x1, y1, x2, y2, score] in original-image pixels
    """
    faces = np.asarray(faces, dtype=np.float64)
    faces = faces.reshape(-1, faces.shape[-1]) if faces.size else np.zeros((0, 5))
    lines = [name, str(len(faces))]
    for x1, y1, x2, y2, score in faces[:, :5]:
        lines.append('%.4f %.4f %.4f %.4f %.7f' % (x1, y1, x2 - x1 + 1, y2 - y1 + 1, score))
    return '\n'.join(lines) + '\n'


def output_name(name):
    """'<event>/<image>.txt' of '<event>/<image>.jpg'."""
    return os.path.splitext(name)[0] + '.txt'


def output_path(output, name):
    return os.path.join(output, output_name(name))


def write_submission(output, name, faces):
    """Write the submission file of the image ``name`` into the folder ``output`` fresh (never
    through a link, never half-written, so that an interrupted run leaves no file to be skipped
    later; the event folder is made, links on the way refused).

    :return: its path
    :raises UserError: naming the file when it cannot be written
    """
    path = output_path(output, name)
    try:
        return safe_write.write_bytes(safe_write.inside(output, output_name(name)),
                                      submission_text(name, faces))
    except OSError as err:
        raise UserError('cannot write %s: %s (is --output a writable folder?)'
                        % (path, err.strerror or err)) from None


def image_root_of(options):
    return options.images or os.path.join(options.dataset_path, options.image_set, 'images')


def refuse_clashing_outputs(image_root, output, names):
    """UserError, before any work, when two images would share one output file or an output
    would replace a listed image, naming both."""
    owners = {}
    for name in names:
        other = owners.setdefault(output_name(name), name)
        if other != name:
            raise UserError('%s and %s would both write %s: rename one of them, or list only one'
                            % (other, name, output_path(output, name)))
    refuse_overwriting_inputs([os.path.join(image_root, n) for n in names],
                              [output_path(output, n) for n in names], '--output')


def select_images(options):
    """The images of this part that exist, as '<event>/<image>.jpg'.

    :raises UserError: when the list is empty, or (without ``--allow-missing``) when listed
        images are absent: one line with how many and the first few
    """
    image_root = image_root_of(options)
    names = find_images(image_root, options.image_list)[options.part::options.parts]
    if not names:
        raise UserError('no images to process under %s (part %d of %d)'
                        % (image_root, options.part, options.parts))
    missing = [n for n in names if not os.path.isfile(os.path.join(image_root, n))]
    if missing:
        summary = ('%d of %d listed images are not under %s (e.g. %s)'
                   % (len(missing), len(names), image_root, first_few(missing)))
        if not options.allow_missing:
            raise UserError('%s: pass --allow-missing to process the %d that are there'
                            % (summary, len(names) - len(missing)))
        logger.warning('%s; processing the %d that are there', summary, len(names) - len(missing))
        absent = set(missing)
        names = [n for n in names if n not in absent]
    refuse_clashing_outputs(image_root, options.output, names)
    return names


def _read(path, options):
    """(image, scales, do_flip) of one listed image, its size checked from the header first."""
    image = read_image_checked(path, path, lambda shape: scales_for(shape, options)[0],
                               options.max_megapixels, SCALE_OPTIONS)
    scales, do_flip = scales_for(image.shape, options)
    check_network_input(path, image.shape, scales, options.max_megapixels, SCALE_OPTIONS)
    return image, scales, do_flip


def run_record_path(output):
    """``<output>.run.json``, beside the submission folder ``output``."""
    return os.path.normpath(output) + RUN_RECORD_SUFFIX


def run_settings(options):
    """What decides the submission files' contents, as JSON-ready data: the model's files' sha256
    and every detection option (not the part, the pixel budget or which images)."""
    files = (symbol_path(options.prefix), params_path(options.prefix, options.epoch))
    return {'model': [file_digest(path) for path in files if os.path.isfile(path)],
            'network': options.network, 'nms': options.nms, 'nocrop': options.nocrop,
            'threshold': options.thresh, 'mode': options.mode, 'scale': options.scale,
            'target_size': options.target_size, 'max_size': options.max_size, 'flip': options.flip,
            'pyramid': options.pyramid,
            'rotations': options.rotations if options.rotations == 'auto' else list(options.rotations)}


def _holds_submissions(output):
    return os.path.isdir(output) and any(name.endswith('.txt') for _, _, files in os.walk(output) for name in files)


def claim_output(options):
    """Make sure ``--output`` holds this run's files only, and record the run's settings.

    :raises UserError: when the folder was made with other settings (naming each), or holds
        submission files without a record (an older run's), unless ``--overwrite``
    """
    path, wanted = run_record_path(options.output), run_settings(options)
    recorded = None
    if os.path.lexists(path):
        try:
            recorded = json.loads(read_utf8(path))
        except (NotUTF8, ValueError, OSError) as err:
            raise UserError('%s: not a settings record of test_widerface.py (%s); move it away or pass '
                            '--overwrite' % (path, err)) from None
        if not isinstance(recorded, dict):
            raise UserError('%s: not a settings record of test_widerface.py; move it away or pass --overwrite' % path)
    if not options.overwrite:
        if recorded is not None and differing_settings(recorded, wanted):
            raise UserError('%s holds the files of other settings (%s): %s; rerun with the same settings, pass '
                            '--overwrite to redo the images, or choose another --output'
                            % (options.output, path, '; '.join(differing_settings(recorded, wanted))))
        if recorded is None and _holds_submissions(options.output):
            raise UserError('%s holds submission files but no settings record (%s), so their settings are '
                            'unknown: pass --overwrite to redo the images, or choose another --output'
                            % (options.output, path))
    if recorded != wanted:
        safe_write.write_bytes(path, json.dumps(wanted, indent=1, sort_keys=True) + '\n')


def run(options, detector, names):
    """Detect and write the images ``names`` (skipping those already written unless
    ``--overwrite``); returns the names that failed, each reported on one "skipped" line."""
    image_root = image_root_of(options)
    claim_output(options)
    safe_write.make_folder(options.output, '--output')
    todo = [n for n in names if options.overwrite or not os.path.isfile(output_path(options.output, n))]
    if len(todo) < len(names):
        logger.info('%d of %d images already written to %s (use --overwrite to redo them)',
                    len(names) - len(todo), len(names), options.output)
    extra = extra_keywords(getattr(options, 'pyramid', False), getattr(options, 'rotations', (0,)))
    failed = []
    progress = tqdm(todo, desc='WIDER %s' % options.image_set, unit='img')
    for name in progress:
        try:
            image, scales, do_flip = _read(os.path.join(image_root, name), options)
        except UserError as err:
            failed.append(name)
            progress.write('skipped: %s' % err, file=sys.stderr)
            continue
        faces, _ = detector.detect(image, threshold=options.thresh, scales=scales, do_flip=do_flip, **extra)
        write_submission(options.output, name, faces)
        progress.set_postfix(faces=len(faces))
    return failed


def evaluation_report(output, ground_truth):
    """The official AP of the files in ``output`` over the images that have one, as the lines
    ``tools/widerface_eval.py --only-predicted`` prints."""
    curves, coverage = widerface_eval.score_folder(output, ground_truth, only_predicted=True)
    return widerface_eval.format_report(curves, 'official', coverage)
