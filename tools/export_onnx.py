"""Export a RetinaFace checkpoint to ONNX, check it, and compare ONNX Runtime with MXNet.

    python tools/export_onnx.py --prefix model/mnet.25 --output model/mnet.25.onnx --dynamic
    python tools/export_onnx.py --prefix model/R50 --size 640x640 --output model/R50-640.onnx

The graph is rewritten where ``mx.onnx`` cannot export it (``SoftmaxActivation`` becomes ``softmax``
over the same axis; see ``rcnn/export/onnx_export.py``), in a copy, without changing the numbers. The
written model (made fresh under a temporary name, then renamed over the target: never through a
link) is checked with ``onnx.checker``; where onnxruntime is installed both runtimes then
run one test image (``--image``, resized to ``--size``; random pixels without one) and the largest
absolute difference of each output is printed. Weights, outputs or differences that are not
finite (NaN, inf), or a difference over ``--tolerance``, end the run with one ``error:`` line and
exit status 1; so does a missing, truncated or corrupt checkpoint file.
"""
import logging

import cv2
import numpy as np

from rcnn.detection.detector import RetinaFace
from rcnn.export.onnx_export import (export_onnx, max_differences, mxnet_outputs, non_finite,
                                     onnxruntime_outputs)
from rcnn.processing.presets import DETECTOR_PRESETS
from rcnn.utils import cli
from rcnn.utils.checkpoint import params_path, symbol_path
from rcnn.utils.cli_guards import first_few, refuse_overwriting_inputs
from rcnn.utils.image_file import read_image_file


def parse_args(argv=None):
    parser = cli.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--prefix', required=True, help='checkpoint prefix (<prefix>-symbol.json)')
    parser.add_argument('--epoch', type=cli.number(0, kind=int), default=0,
                        help='checkpoint epoch (default 0)')
    parser.add_argument('--output', help='ONNX file to write (default <prefix>.onnx)')
    parser.add_argument('--size', type=cli.parse_size, default=(640, 640),
                        help='input height x width (default 640x640); with --dynamic the size to '
                             'compare at')
    parser.add_argument('--dynamic', action='store_true', help='leave input height and width open')
    parser.add_argument('--network', default='net3', choices=DETECTOR_PRESETS,
                        help='preset of the pixel normalisation for the comparison (default net3)')
    parser.add_argument('--image', help='test image for the comparison (default: random pixels)')
    parser.add_argument('--tolerance', type=cli.number(0), default=1e-4,
                        help='largest absolute difference allowed (default 1e-4)')
    return parser.parse_args(argv)


def test_image(args):
    """(H, W, 3) uint8 BGR: ``--image`` resized to ``--size``, or random pixels without one."""
    height, width = args.size
    if not args.image:
        return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    img = read_image_file(args.image)
    if img.shape[:2] != (height, width):
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    return img


def require_finite(named_arrays, what):
    """UserError naming the arrays of ``named_arrays`` that hold NaN or infinite values."""
    bad = non_finite(named_arrays)
    if bad:
        raise cli.UserError('%s: %d %s hold NaN or infinite values (%s); the checkpoint is damaged '
                            'or its training diverged' % (what, len(bad), 'arrays' if len(bad) > 1
                                                          else 'array', first_few(bad)))


def compare_runtimes(args, detector, output, symbol, arg_params, aux_params):
    """Print the largest |ONNX Runtime - MXNet| per output; UserError when one is not finite or
    passes ``--tolerance``."""
    tensor = detector.preprocess(test_image(args))[0]
    names = symbol.list_outputs()
    reference = mxnet_outputs(symbol, arg_params, aux_params, tensor)
    require_finite(zip(names, reference), 'MXNet outputs')
    outputs = onnxruntime_outputs(output, tensor)
    require_finite(zip(names, outputs), 'ONNX Runtime outputs of %s' % output)
    differences = np.asarray(max_differences(reference, outputs))
    for name, difference in zip(names, differences):
        print('  %-42s max |ONNX Runtime - MXNet| %.3g' % (name, difference))
    worst = int(np.argmax(differences))  # both sides are finite: so is every difference
    print('largest difference %.3g (tolerance %.3g)' % (differences[worst], args.tolerance))
    if differences[worst] > args.tolerance:
        raise cli.UserError('ONNX Runtime and MXNet differ by %.3g on %s, over --tolerance %.3g: '
                            'do not use %s' % (differences[worst], names[worst], args.tolerance,
                                               output))


def main(argv=None):
    args = parse_args(argv)
    cli.setup_logging(logging.WARNING)
    output = args.output or args.prefix + '.onnx'
    sources = [symbol_path(args.prefix), params_path(args.prefix, args.epoch)]
    refuse_overwriting_inputs(sources + ([args.image] if args.image else []), [output], '--output')
    if args.image:
        read_image_file(args.image)  # a bad test image fails before any work
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise cli.UserError('exporting needs the onnx package: .venv/bin/pip install --no-deps '
                            '-r requirements-onnx.txt') from None

    detector = RetinaFace(args.prefix, args.epoch, ctx_id=-1, network=args.network)
    symbol, arg_params, aux_params = detector.symbol, detector.arg_params, detector.aux_params
    require_finite(list(arg_params.items()) + list(aux_params.items()),
                   params_path(args.prefix, args.epoch))
    try:
        changes = export_onnx(symbol, arg_params, aux_params, output, (1, 3) + args.size,
                              args.dynamic)
    except NotImplementedError as err:
        raise cli.UserError('%s cannot be exported: %s' % (symbol_path(args.prefix), err)) from None
    print('wrote %s (%s), onnx.checker passed' % (output, 'dynamic HxW' if args.dynamic
                                                   else 'input 1x3x%dx%d' % args.size))
    for change in changes:
        print('  rewrote %s' % change)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print('onnxruntime is not installed: outputs not compared')
        return 0
    compare_runtimes(args, detector, output, symbol, arg_params, aux_params)
    return 0


if __name__ == '__main__':
    cli.run_main(main)
