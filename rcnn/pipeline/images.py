"""test.py's body: detect faces on one image (a drawn image and its detections as JSON) or on
every image of a folder (the folder pipeline: ``detections.jsonl`` and drawn images)."""
import json
import time

from rcnn.detection.base import draw_detections, target_scale
from rcnn.errors import UserError
from rcnn.pipeline.detect import build_detector
from rcnn.pipeline.inputs import check_output_folder, list_inputs, read_checked_image
from rcnn.pipeline.run import detect_into_folder
from rcnn.pipeline.settings import extra_keywords
from rcnn.utils import safe_write
from rcnn.utils.cli_guards import refuse_overwriting_inputs, same_file, skipped_images_error
from rcnn.utils.image_file import IMAGE_EXTENSIONS, write_image_file

SCALE_OPTIONS = '--target-size / --max-size'


def detections_json(image_path, scale, faces, landmarks):
    """JSON-ready dict of one image's detections (pixels of the original image)."""
    return {'image': image_path, 'scale': scale, 'faces': [
        {'box': [round(float(v), 2) for v in face[:4]], 'score': round(float(face[4]), 5),
         'landmarks': [[round(float(x), 2), round(float(y), 2)] for x, y in landmarks[i]]
         if landmarks is not None else None}
        for i, face in enumerate(faces)]}


def json_text(result):
    """The detections dict as test.py prints and writes it."""
    return json.dumps(result, indent=1) + '\n'


def write_json(result, path):
    """Write ``result`` as indented JSON to ``path`` (fresh file, renamed over the target)."""
    try:
        safe_write.write_bytes(path, json_text(result))
    except OSError as err:
        raise UserError('cannot write %s: %s' % (path, err.strerror or err)) from None


def check_single_outputs(image, output, json_path):
    """UserError when the drawn image or the JSON would replace the input, or each other."""
    refuse_overwriting_inputs([image], [output], '--output')
    if json_path not in (None, '-'):
        refuse_overwriting_inputs([image], [json_path], '--json')
        if same_file(json_path, output):
            raise UserError('--json %s and --output %s name one file: the JSON would replace the '
                            'drawn image; choose two paths' % (json_path, output))


def detect_image_file(image, spec, settings, output, json_path=None):
    """Detect on one image file, write the drawn image to ``output`` and the detections to
    ``json_path`` (a file; '-' or None: not written).

    :return: (detections dict as :func:`detections_json`, seconds the detection took)
    """
    check_single_outputs(image, output, json_path)
    img = read_checked_image(image, settings, SCALE_OPTIONS)  # a bad image fails before the model loads
    detector = build_detector(spec)
    scale = target_scale(img.shape, settings.target_size, settings.max_size)
    start = time.perf_counter()
    faces, landmarks = detector.detect(img, settings.threshold, scales=[scale], do_flip=settings.flip,
                                       **extra_keywords(settings.pyramid, settings.rotations))
    seconds = time.perf_counter() - start
    write_image_file(output, draw_detections(img, faces, landmarks))  # fresh, never through a link
    if json_path not in (None, '-'):
        write_json(detections_json(image, scale, faces, landmarks), json_path)
    return detections_json(image, scale, faces, landmarks), seconds


def detect_image_folder(folder, spec, settings, output, json_path=None, overwrite=False):
    """The folder pipeline on every image under ``folder``, drawn images included (records in
    ``<output>/detections.jsonl``, drawings in ``<output>/drawn/``); a rerun with the same settings
    continues; :func:`check_failures` then names the images that were not detected.

    :return: :data:`rcnn.pipeline.run.PipelineSummary`
    """
    if json_path not in (None, '-'):
        raise UserError('--json %s names one file, but a folder input writes its records to '
                        '<output>/detections.jsonl; leave --json out' % json_path)
    if same_file(output, folder):
        raise UserError('--output %s is the input folder: the results would mix with the images '
                        '(and be read as images on the next run); choose another --output' % output)
    check_output_folder(folder, output)
    items = list_inputs(folder, exclude=output)
    if not items:
        raise UserError('no image files (%s) in the folder %s' % (', '.join(IMAGE_EXTENSIONS), folder))
    return detect_into_folder(items, spec, settings, output, workers=0, draw=True, overwrite=overwrite)


def check_failures(summary):
    """UserError naming the inputs the results folder holds no detections of."""
    if summary.failed:
        raise skipped_images_error(summary.failed, summary.images + summary.skipped)
