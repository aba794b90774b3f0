"""Export a RetinaFace checkpoint to ONNX, check it, and compare ONNX Runtime with MXNet.

    python tools/export_onnx.py --prefix model/mnet.25 --output model/mnet.25.onnx --dynamic
    python tools/export_onnx.py --prefix model/R50 --size 640x640 --output model/R50-640.onnx

The graph is rewritten where ``mx.onnx`` cannot export it (``SoftmaxActivation`` becomes ``softmax``
over the same axis; see ``rcnn/tools/onnx_export.py``), in a copy, without changing the numbers. The
written model is checked with ``onnx.checker``; where onnxruntime is installed both runtimes then
run one test image (``--image``, resized to ``--size``; random pixels without one) and the largest
absolute difference of each output is printed. The exit status is 1 when one exceeds
``--tolerance``.
"""
import argparse
import logging
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rcnn.tools.onnx_export import (export_onnx, max_differences, mxnet_outputs,  # noqa: E402
                                    onnxruntime_outputs)
from rcnn.utils.cli import parse_size  # noqa: E402
from retinaface import NETWORKS, RetinaFace, read_image  # noqa: E402


def test_tensor(args, detector):
    """The network input of ``--image`` resized to ``--size`` (random pixels without an image)."""
    height, width = args.size
    if args.image:
        img = read_image(args.image)
        if img.shape[:2] != (height, width):
            img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    else:
        img = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return detector.preprocess(img)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--prefix', required=True, help='checkpoint prefix (<prefix>-symbol.json)')
    parser.add_argument('--epoch', type=int, default=0, help='checkpoint epoch (default 0)')
    parser.add_argument('--output', help='ONNX file to write (default <prefix>.onnx)')
    parser.add_argument('--size', type=parse_size, default=(640, 640),
                        help='input height x width (default 640x640); with --dynamic the size to '
                             'compare at')
    parser.add_argument('--dynamic', action='store_true', help='leave input height and width open')
    parser.add_argument('--network', default='net3', choices=NETWORKS,
                        help='preset of the pixel normalisation for the comparison (default net3)')
    parser.add_argument('--image', help='test image for the comparison (default: random pixels)')
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest absolute difference allowed (default 1e-4)')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')

    output = args.output or args.prefix + '.onnx'
    detector = RetinaFace(args.prefix, args.epoch, ctx_id=-1, network=args.network)
    symbol, arg_params, aux_params = detector.symbol, detector.arg_params, detector.aux_params
    changes = export_onnx(symbol, arg_params, aux_params, output, (1, 3) + args.size, args.dynamic)
    print('wrote %s (%s), onnx.checker passed' % (output, 'dynamic HxW' if args.dynamic
                                                   else 'input 1x3x%dx%d' % args.size))
    for change in changes:
        print('  rewrote %s' % change)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print('onnxruntime is not installed: outputs not compared')
        return 0
    tensor = test_tensor(args, detector)
    differences = max_differences(mxnet_outputs(symbol, arg_params, aux_params, tensor),
                                  onnxruntime_outputs(output, tensor))
    for name, difference in zip(symbol.list_outputs(), differences):
        print('  %-42s max |ONNX Runtime - MXNet| %.3g' % (name, difference))
    worst = max(differences)
    print('largest difference %.3g (tolerance %.3g)' % (worst, args.tolerance))
    return 0 if worst <= args.tolerance else 1


if __name__ == '__main__':
    sys.exit(main())
