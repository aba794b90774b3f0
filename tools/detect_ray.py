"""Detect faces in every image of a folder tree or a list file on Ray Data (one machine or a cluster).

    python tools/detect_ray.py photos/ --output results --prefix model/mnet.25          # local Ray
    python tools/detect_ray.py list.txt --output /shared/results --onnx model/mnet.25.onnx \\
        --address auto --threads 1                                                    # a cluster

Needs the optional extras (``pip install -r requirements-ray.txt``). Without --address, Ray starts
in this process on this machine (--num-cpus, default all). The records are those of
tools/detect_folder.py (path, width, height, boxes, scores, landmarks, error), written as Parquet
files in --output; a rerun (after a crash or a kill) skips the paths already written. Inputs and
--output must be reachable at the same path from every node.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rcnn.pipeline import batch_pipeline, ray_job  # noqa: E402
from rcnn.utils import cli  # noqa: E402


def parse_args(argv=None):
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    batch_pipeline.add_detection_arguments(parser)
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
    spec = batch_pipeline.spec_from_args(args)
    batch_pipeline.check_output_folder(args.input, args.output)
    items = batch_pipeline.list_inputs(args.input, exclude=args.output)
    if not items:
        raise cli.UserError('no images in %s (looked for %s files)'
                            % (args.input, ', '.join(batch_pipeline.IMAGE_EXTENSIONS)))
    detected, skipped = ray_job.run_ray_job(
        items, spec, batch_pipeline.settings_from_args(args), args.output, address=args.address,
        num_cpus=args.num_cpus, actors=args.actors, cpus_per_actor=args.cpus_per_actor)
    results = ray_job.read_results(args.output, ['scores', 'error'])
    errors = [e for e in results.column('error').to_pylist() if e]
    faces = sum(len(s) for s in results.column('scores').to_pylist() if s is not None)
    print('%d images detected in this run, %d already done; %s now holds %d records, %d faces, '
          '%d files not detected (unreadable or too large)'
          % (detected, skipped, args.output, results.num_rows, faces, len(errors)))
    for error in errors[:10]:
        print('  not detected: %s' % error)
    return 0


if __name__ == '__main__':
    cli.run_main(main)
