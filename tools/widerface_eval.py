"""WIDER FACE validation AP of a folder of submission files (what test_widerface.py writes).

    python tools/widerface_eval.py --pred wout --gt data/widerface_eval_gt \\
        [--protocol official|python] [--only-predicted | --allow-missing] \\
        [--plot pr.png] [--curves pr.npz|pr.csv]

It prints AP in percent per setting and which images were scored. By default every image of the
ground truth must have a prediction file: one missing is an error (one line: how many, the first
few) unless ``--allow-missing`` counts them as images without detections (the official tool's
rule, which lowers AP on a subset), or ``--only-predicted`` scores only the images that have a
file (what ``test_widerface.py --gt`` prints, so the two agree on a subset of val). ``--gt`` is
the official eval_tools folder of .mat files, or a RetinaFace label.txt (one setting, 'all').
The protocols and formats are described in rcnn/evaluation/.
"""
import argparse
import logging
import sys

from rcnn.evaluation import report, widerface_eval
from rcnn.errors import UserError
from rcnn.utils import cli


def _output_name(formats, what):
    """An argparse ``type=`` accepting a file name that ends in one of ``formats``."""
    def parse(text):
        try:
            return report.check_output_name(text, formats, what)
        except UserError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    parse.__name__ = what
    return parse


def parse_args(argv=None):
    parser = cli.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--pred', required=True, help='folder of <event>/<image>.txt submission files')
    parser.add_argument('--gt', required=True,
                        help='folder with wider_face_val.mat and wider_{easy,medium,hard}_val.mat, '
                             'or a RetinaFace label.txt (one setting, every face counts)')
    parser.add_argument('--protocol', choices=widerface_eval.PROTOCOLS, default='official',
                        help='official: the MATLAB tool bit for bit; python: the Python port')
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument('--only-predicted', action='store_true',
                       help='score only the images that have a prediction file (a subset of the '
                            'split; what test_widerface.py --gt prints)')
    scope.add_argument('--allow-missing', action='store_true',
                       help='score every ground-truth image, counting those without a prediction '
                            'file as images without detections (default: they are an error)')
    parser.add_argument('--plot', type=_output_name(report.PLOT_FORMATS, 'plot'),
                        help='write the PR curves to this picture (.png, .pdf or .svg)')
    parser.add_argument('--curves', type=_output_name(report.CURVE_FORMATS, 'curves'),
                        help='write the PR curves as numbers (.npz or .csv)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cli.setup_logging(logging.WARNING)
    ground_truth = widerface_eval.load_any_ground_truth(args.gt)
    curves, coverage = widerface_eval.score_folder(args.pred, ground_truth, args.protocol,
                                                   args.only_predicted, args.allow_missing)
    lines = [report.format_report(curves, args.protocol, coverage)]
    if args.plot:
        report.write_output(report.plot_pr_curves, curves, args.plot, 'plot',
                            'WIDER FACE PR curves (%s protocol)' % args.protocol)
        lines.append('PR curves plotted to %s' % args.plot)
    if args.curves:
        report.write_output(report.save_curves, curves, args.curves, 'curves', args.protocol)
        lines.append('PR curves written to %s' % args.curves)
    sys.stdout.write('\n'.join(lines) + '\n')
    return 0


if __name__ == '__main__':
    cli.run_main(main)
