"""Parameter count and GFLOPs of a RetinaFace test graph; optionally save it with fresh weights.

    python tools/model_stats.py --network resnet --size 640x640 --save model/r50-random

Counts: learnable arguments (every argument but ``data``; BatchNorm moving statistics are auxiliary
states and not counted), and the count after folding each BatchNorm into the convolution before
it (gamma and beta go, the convolution gains a bias where it had none; a BatchNorm on the input,
or after an addition, as ResNet's pre-activation ones, stays). FLOPs are counted
with one multiply-add = 2 FLOPs (the convention of the OpenVINO model cards), at batch 1; the
convolutions alone and with the element-wise layers added.
"""
import json

import mxnet as mx
import numpy as np


from rcnn.config import generate_config
from rcnn.utils import cli
from rcnn.utils.checkpoint import save_checkpoint
from symbol import BACKBONES, get_symbol


def _shapes(sym, data_shape):
    """{output name: shape} of every internal output, and {argument name: shape}."""
    internals = sym.get_internals()
    arg_shapes, out_shapes, aux_shapes = internals.infer_shape(data=data_shape)
    return (dict(zip(internals.list_outputs(), out_shapes)), dict(zip(internals.list_arguments(), arg_shapes)),
            dict(zip(internals.list_auxiliary_states(), aux_shapes)))


def parameter_counts(sym, data_shape=(1, 3, 640, 640)):
    """(learnable argument count, the count with BatchNorm folded into the convolution before it).

    Folding removes gamma and beta of every BatchNorm that directly follows a convolution, and gives
    that convolution a bias where it had none. Pre-activation BatchNorms (ResNet's ``bn_data``,
    ``stageK_unitN_bn1``, ``bn1``) follow no convolution and stay.
    """
    _, arg_shapes, _ = _shapes(sym, data_shape)
    learnable = sum(int(np.prod(shape)) for name, shape in arg_shapes.items() if name != 'data')
    nodes = json.loads(sym.tojson())['nodes']
    folded = learnable
    for node in nodes:
        producer = nodes[node['inputs'][0][0]] if node['inputs'] else None
        if node['op'] != 'BatchNorm' or producer['op'] != 'Convolution':
            continue
        channels = arg_shapes[nodes[node['inputs'][1][0]]['name']][0]
        has_bias = len(producer['inputs']) == 3
        folded -= 2 * channels if has_bias else channels
    return learnable, folded


def flops(sym, data_shape=(1, 3, 640, 640)):
    """(convolution FLOPs, FLOPs of all other layers) for ``data_shape``; 1 multiply-add = 2 FLOPs.

    Convolutions: 2 * output elements * (input channels / groups) * kernel area. Other layers: one
    FLOP per output element (bias add, ReLU, addition, softmax, ...), two for BatchNorm (scale and
    shift).
    """
    out_shapes, arg_shapes, _ = _shapes(sym, data_shape)
    nodes = json.loads(sym.tojson())['nodes']
    conv, other = 0, 0
    for node in nodes:
        if node['op'] == 'null':
            continue
        elements = int(np.prod(out_shapes[node['name'] + '_output']))
        if node['op'] in ('Convolution', '_contrib_DeformableConvolution'):
            weight_shape = arg_shapes[nodes[node['inputs'][1][0]]['name']]
            conv += 2 * elements * int(np.prod(weight_shape[1:]))
            other += elements if len(node['inputs']) == 3 else 0
        elif node['op'] not in ('Reshape', 'Crop', 'Concat', 'Flatten'):
            other += elements * (2 if node['op'] == 'BatchNorm' else 1)
    return conv, other


def init_params(sym, data_shape=(1, 3, 640, 640), seed=0):
    """Freshly initialised (arg_params, aux_params) for ``sym``, as training would start.

    Each Variable's own ``__init__`` attribute is honoured (the heads' N(0, 0.01) weights and zero
    biases); the rest gets Xavier weights, BatchNorm gamma 1 / beta 0 and moving mean 0 / var 1.
    """
    mx.random.seed(seed)
    arg_shapes, _, aux_shapes = sym.infer_shape(data=data_shape)
    attrs = sym.attr_dict()
    initializer = mx.init.Xavier(factor_type='in', magnitude=2.0)
    params = {}
    for names, shapes in ((sym.list_arguments(), arg_shapes), (sym.list_auxiliary_states(), aux_shapes)):
        for name, shape in zip(names, shapes):
            if name == 'data':
                continue
            array = mx.nd.zeros(shape)
            initializer(mx.init.InitDesc(name, attrs.get(name, {})), array)
            params[name] = array
    args = {name: params[name] for name in sym.list_arguments() if name in params}
    aux = {name: params[name] for name in sym.list_auxiliary_states()}
    return args, aux


def main(argv=None):
    parser = cli.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--network', choices=BACKBONES, required=True,
                        help='backbone (not a detector preset such as net3)')
    parser.add_argument('--size', type=cli.parse_size, default=(640, 640), help='input HxW (default 640x640)')
    parser.add_argument('--save', metavar='PREFIX',
                        help='write PREFIX-symbol.json and freshly initialised PREFIX-0000.params (+ its '
                             'sha256 in PREFIX-0000.json)')
    args = parser.parse_args(argv)

    cfg = generate_config(args.network, 'retinaface')
    sym = get_symbol(args.network, 'test', cfg)
    data_shape = (1, 3) + args.size
    learnable, folded = parameter_counts(sym, data_shape)
    conv_flops, other_flops = flops(sym, data_shape)
    print('network            %s, input 1x3x%dx%d' % ((args.network,) + args.size))
    print('parameters         %.4f M learnable arguments (BatchNorm moving statistics not counted)' % (learnable / 1e6))
    print('parameters folded  %.4f M with every BatchNorm folded into its convolution' % (folded / 1e6))
    print('GFLOPs             %.2f in the convolutions (1 multiply-add = 2 FLOPs), %.2f with all layers'
          % (conv_flops / 1e9, (conv_flops + other_flops) / 1e9))
    if args.save:
        arg_params, aux_params = init_params(sym, data_shape)
        save_checkpoint(args.save, 0, sym, arg_params, aux_params)
        print('saved              %s-symbol.json, %s-0000.params, %s-0000.json' % ((args.save,) * 3))


if __name__ == '__main__':
    cli.run_main(main)
