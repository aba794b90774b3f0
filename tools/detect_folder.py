"""Detect faces in every image of a folder tree or a list file, on one machine.

    python tools/detect_folder.py photos/ --output results --prefix model/mnet.25
    python tools/detect_folder.py list.txt --output results --onnx model/mnet.25.onnx \\
        --letterbox 640x640 --batch-size 16 --crops 112 --draw

--model-workers processes each load the model and decode and detect whole batches of --batch-size
images side by side (with --model-workers 1 the model runs here, fed by --workers decoding
processes). Results go to ``<output>/detections.jsonl`` (a header record with the settings, then one
JSON record per image, in input order: path, width, height, boxes, scores, landmarks, error, bytes,
mtime_ns), appended and flushed per batch, and to ``<output>/detections.parquet`` at the end where
pyarrow is installed. A rerun with the same settings skips the images already recorded (an
interrupted run loses at most its batches in flight), detects changed files again and drops the
records of files no longer listed; other settings are refused unless --overwrite. One run at a time
holds the folder. Files that cannot be read, and images whose network input would pass
--max-megapixels (read from the header, before decoding), are recorded with their error, reported
and skipped; the run then ends with exit status 1. --draw writes ``<output>/drawn/``, --crops SIZE
aligned face crops (ArcFace template) to ``<output>/crops/``; inputs are never written to.
"""
import os

from rcnn.errors import UserError
from rcnn.pipeline import inputs, options
from rcnn.pipeline.run import detect_into_folder, summary_line
from rcnn.utils import cli
from rcnn.utils.cli_guards import skipped_images_error
from rcnn.utils.image_file import IMAGE_EXTENSIONS

DEFAULT_MODEL_WORKERS = max(1, min(4, os.cpu_count() or 1))
DEFAULT_DECODERS = max(1, min(4, (os.cpu_count() or 2) - 1))


def parse_args(argv=None):
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_detection_arguments(parser)
    run = parser.add_argument_group('pipeline')
    run.add_argument('--model-workers', type=cli.number(1, 64, kind=int),
                     metavar='N',
                     help='processes that each load the model and decode and detect whole batches '
                     '(--threads 0 then gives each cores / N threads; default %d: one per core, at '
                     'most 4, or 1 when --workers is given); 1: one model, in this process, fed by '
                     '--workers' % DEFAULT_MODEL_WORKERS)
    run.add_argument('--workers', type=cli.number(0, 64, kind=int),
                     help='decoding processes feeding the model with --model-workers 1 (0: decode '
                     'between forwards; default %d)' % DEFAULT_DECODERS)
    run.add_argument('--draw', action='store_true', help='write drawn images to <output>/drawn/')
    run.add_argument('--crops', type=cli.number(0, 1024, kind=int), default=0, metavar='SIZE',
                     help='write aligned face crops of SIZE x SIZE pixels to <output>/crops/ (a '
                     'multiple of 112 or 128; 0: none)')
    run.add_argument('--no-progress', dest='progress', action='store_false',
                     help='no progress bar')
    args = parser.parse_args(argv)
    if args.model_workers is None:
        args.model_workers = DEFAULT_MODEL_WORKERS if args.workers is None else 1
    return args


def main(argv=None):
    args = parse_args(argv)
    cli.setup_logging()
    spec = options.spec_from_args(args)
    settings = options.settings_from_args(args)
    if args.model_workers > 1 and args.workers is not None:
        raise UserError('--workers %d: decoding processes feed a model in this process, but '
                        '--model-workers %d decode their own batches; drop one of the two'
                        % (args.workers, args.model_workers))
    if args.crops:
        options.check_crop_size(args.crops)
    inputs.check_output_folder(args.input, args.output)
    items = inputs.list_inputs(args.input, exclude=args.output)
    if not items:
        raise UserError('no images in %s (looked for %s files)' % (args.input, ', '.join(IMAGE_EXTENSIONS)))
    summary = detect_into_folder(
        items, spec, settings, args.output, model_workers=args.model_workers,
        workers=DEFAULT_DECODERS if args.workers is None else args.workers, draw=args.draw,
        crop_size=args.crops, overwrite=args.overwrite, progress=args.progress)
    print(summary_line(summary))
    print('results: %s%s' % (summary.results, ' and %s' % summary.parquet if summary.parquet else ''))
    if summary.failed:
        raise skipped_images_error(summary.failed, len(items))
    return 0


if __name__ == '__main__':
    cli.run_main(main)
