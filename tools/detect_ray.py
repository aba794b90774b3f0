"""Detect faces in every image of a folder tree or a list file on Ray Data (one machine or a cluster).

    python tools/detect_ray.py photos/ --output results --prefix model/mnet.25          # local Ray
    python tools/detect_ray.py list.txt --output /shared/results --onnx model/mnet.25.onnx \\
        --address auto --threads 1                                                    # a cluster

Needs the optional extras (``pip install -r requirements-ray.txt``). Without --address, Ray starts
in this process on this machine (--num-cpus, default all); an --address that does not answer is
one error line. The records are those of tools/detect_folder.py (path, width, height, boxes,
scores, landmarks, error, bytes, mtime_ns), written as Parquet files in --output, with the settings
in ``<output>/run.json``; a rerun (after a crash or a kill) with the same settings skips the paths
already written, detects changed files again and drops files no longer listed; other settings are
refused unless --overwrite. Unreadable or too large images are recorded with their error and the
run ends with exit status 1. Inputs and --output must be reachable at the same path from every node.
"""
from rcnn.errors import UserError
from rcnn.pipeline import inputs, options, ray_job
from rcnn.pipeline.store import run_settings
from rcnn.utils import cli
from rcnn.utils.cli_guards import skipped_images_error
from rcnn.utils.image_file import IMAGE_EXTENSIONS

SHOWN_ERRORS = 10


def parse_args(argv=None):
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_detection_arguments(parser)
    ray_options = parser.add_argument_group('ray')
    ray_options.add_argument('--address', help="Ray cluster to join (e.g. 'auto' on a node of it, "
                             "or head-ip:6379); default: start Ray here")
    ray_options.add_argument('--num-cpus', type=cli.number(1, kind=int),
                             help='CPUs of the local Ray (no --address; default: all)')
    ray_options.add_argument('--actors', type=cli.number(0, kind=int), default=0,
                             help='detector actors (default: CPUs less one, over --cpus-per-actor)')
    ray_options.add_argument('--cpus-per-actor', type=cli.number(0, 64, low_open=True), default=1.0,
                             help='CPUs each actor reserves (default %(default)s)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cli.setup_logging()
    ray_job.require_ray()
    spec = options.spec_from_args(args)
    settings = options.settings_from_args(args)
    inputs.check_output_folder(args.input, args.output)
    items = inputs.list_inputs(args.input, exclude=args.output)
    if not items:
        raise UserError('no images in %s (looked for %s files)' % (args.input, ', '.join(IMAGE_EXTENSIONS)))
    detected, skipped, changed, absent = ray_job.run_ray_job(
        items, spec, settings, args.output, address=args.address, num_cpus=args.num_cpus,
        actors=args.actors, cpus_per_actor=args.cpus_per_actor,
        run_settings=run_settings(spec, settings), overwrite=args.overwrite)
    results = ray_job.read_results(args.output, ['path', 'scores', 'error'])
    failed = [(path, error) for path, error in zip(results.column('path').to_pylist(),
                                                   results.column('error').to_pylist()) if error]
    faces = sum(len(s) for s in results.column('scores').to_pylist() if s is not None)
    print('%d images detected in this run, %d already done (%d changed inputs detected again, %d '
          'records of inputs no longer listed dropped); %s now holds %d records, %d faces, %d files '
          'not detected (unreadable or too large)' % (detected, skipped, changed, absent, args.output,
                                                       results.num_rows, faces, len(failed)))
    for _, error in failed[:SHOWN_ERRORS]:
        print('  not detected: %s' % error)
    if failed:
        raise skipped_images_error([path for path, _ in failed], len(items))
    return 0


if __name__ == '__main__':
    cli.run_main(main)
