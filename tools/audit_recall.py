"""Recall of a face detector by face size (pixels, fraction of the frame) and by rotation, for
several detector settings side by side: one table (printed, and --table) and one PNG (--plot).

    python tools/audit_recall.py photos/ --prefix model/mnet.25 --plot audit.png
    python tools/audit_recall.py data/retinaface/val/images --labels data/retinaface/val/label.txt \\
        --prefix model/mnet.25 --settings default,pyramid --plot audit.png

Without --labels, the faces are the model's own confident upright detections at the default
settings, and each photo also yields close-ups of its largest faces (55-95% of 800 and 2400 px
frames), small copies (x0.5, x0.25) and copies turned 90, 180 and 270 degrees clockwise
(rcnn/detection/audit.py). With --labels (WIDER-format label.txt, image paths relative to the
folder) the labelled photos are audited as they are.
"""
import os

from rcnn.detection import audit
from rcnn.errors import UserError
from rcnn.processing.presets import DETECTOR_PRESETS
from rcnn.utils import cli
from rcnn.utils.image_file import read_image_file
from rcnn.utils.safe_write import write_bytes

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def parse_args(argv=None):
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('images', help='folder of photos (searched recursively)')
    parser.add_argument('--labels', help='WIDER-format label.txt of the photos (default: the '
                        "model's own upright detections, with generated close-ups, small copies "
                        'and turns)')
    parser.add_argument('--prefix', help='MXNet checkpoint prefix')
    parser.add_argument('--epoch', type=cli.number(0, kind=int), default=0)
    parser.add_argument('--onnx', help='an ONNX model (tools/export_onnx.py --dynamic) instead')
    parser.add_argument('--network', default='net3', choices=DETECTOR_PRESETS)
    parser.add_argument('--threshold', type=cli.number(0, 1), default=0.5, aliases=('--thresh',))
    parser.add_argument('--scale', type=cli.number(0, low_open=True), default=1.0,
                        help='resize factor of every pass (default 1)')
    parser.add_argument('--settings', default='default,pyramid,auto',
                        help='comma-separated settings to compare, of: %s' % ', '.join(audit.SETTINGS))
    parser.add_argument('--limit', type=cli.number(1, kind=int), help='audit at most N photos')
    parser.add_argument('--plot', help='write the recall chart to this PNG file')
    parser.add_argument('--table', help='also write the table to this text file')
    args = parser.parse_args(argv)
    args.settings = args.settings.split(',')
    unknown = [s for s in args.settings if s not in audit.SETTINGS]
    if unknown or not args.settings:
        parser.error('--settings: unknown %s; choose from %s'
                     % (', '.join(map(repr, unknown)), ', '.join(audit.SETTINGS)))
    if bool(args.prefix) == bool(args.onnx):
        parser.error('pass the model as --prefix PREFIX (MXNet checkpoint) or --onnx FILE, one of the two')
    if args.plot and not args.plot.lower().endswith('.png'):
        parser.error('--plot %s: name a .png file' % args.plot)
    return args


def make_detector(args):
    if args.onnx:
        from retinaface_onnx import RetinaFaceONNX
        return RetinaFaceONNX(args.onnx, network=args.network)
    from retinaface import RetinaFace
    return RetinaFace(args.prefix, args.epoch, ctx_id=-1, network=args.network)


def list_images(folder):
    """Image files under ``folder``, sorted, as paths relative to it."""
    if not os.path.isdir(folder):
        raise UserError('%s: no such folder of photos' % folder)
    found = []
    for root, _, files in os.walk(folder):
        found += [os.path.relpath(os.path.join(root, name), folder) for name in files
                  if name.lower().endswith(IMAGE_EXTENSIONS)]
    if not found:
        raise UserError('%s holds no images (%s)' % (folder, ', '.join(IMAGE_EXTENSIONS)))
    return sorted(found)


def labelled_photos(args):
    """(name, image, boxes) of the photos of --labels (x y w h -> x1 y1 x2 y2, x2 = x + w)."""
    from rcnn.dataset.retinaface import read_label_file
    if not os.path.isfile(args.labels):
        raise UserError('--labels %s: no such file' % args.labels)
    for name, _, faces in read_label_file(args.labels)[:args.limit]:
        boxes = [(v[0], v[1], v[0] + v[2], v[1] + v[3]) for _, v in faces]
        yield name, read_image_file(os.path.join(args.images, name)), boxes


def cases(args, detector):
    if args.labels:
        return audit.labelled_cases(labelled_photos(args))
    return (case for name in list_images(args.images)[:args.limit]
            for case in audit.generated_cases(detector, name,
                                              read_image_file(os.path.join(args.images, name)),
                                              args.threshold))


def main(argv=None):
    args = parse_args(argv)
    cli.setup_logging()
    detector = make_detector(args)
    rows = audit.audit(detector, cases(args, detector), args.settings, args.threshold, [args.scale])
    if not rows:
        raise UserError('no faces to audit in %s (no labelled or confidently detected face)' % args.images)
    table = audit.recall_table(rows, args.settings)
    text = audit.format_table(table, args.settings)
    print(text)
    if args.table:
        write_bytes(args.table, text + '\n')
    if args.plot:
        audit.plot_table(table, args.settings, args.plot)
    return 0


if __name__ == '__main__':
    cli.run_main(main)
