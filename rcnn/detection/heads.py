"""Which output of a RetinaFace model is which: strides from the output sizes, and per stride the
score, box, landmark and cascade-refinement outputs; the check that a detector preset fits them."""
import collections
import logging
import math

from rcnn.errors import DetectorError
from rcnn.processing import presets

log = logging.getLogger(__name__)

# The network outputs of one stride: indices into the list of outputs.
StrideHeads = collections.namedtuple('StrideHeads', 'stride cls bbox landmark cascade_bbox')


def output_strides(output_shapes, input_size):
    """Stride of each output: input height / output height, rounded to a power of two.

    :param output_shapes: (1, C, h, w) shapes of the outputs for one input
    :param input_size: (H, W) of that input
    """
    return [2 ** int(round(math.log2(input_size[0] / max(shape[2], 1)))) for shape in output_shapes]


def outputs_by_stride(output_shapes, input_size, model_name):
    """{stride: [output indices]}, strides in the model's order; DetectorError when the outputs of
    one stride are not consecutive or fewer than two (scores and boxes)."""
    groups = collections.OrderedDict()
    for index, stride in enumerate(output_strides(output_shapes, input_size)):
        groups.setdefault(stride, []).append(index)
    strides = ', '.join(map(str, groups))
    if [i for indices in groups.values() for i in indices] != list(range(len(output_shapes))):
        raise DetectorError('%s: the outputs (at strides %s) are not grouped by stride, as a RetinaFace '
                            "model's are" % (model_name, strides))
    if min(len(indices) for indices in groups.values()) < 2:
        raise DetectorError('%s has %d outputs at strides %s: too few for a RetinaFace model (scores '
                            'and boxes per stride)' % (model_name, len(output_shapes), strides))
    return groups

def find_heads(output_shapes, input_size, model_name, network, num_anchors):
    """Check that a preset fits the model, and find which output is which, per stride.

    Outputs are grouped by stride (from their sizes). Per stride they are: scores (2A
    channels), boxes (4A), landmarks when every stride has a third output, then in a cascade
    model up to two refinement outputs: scores (2A, replacing the first ones) and boxes (4A,
    applied to the decoded boxes).

    :param output_shapes: (1, C, h, w) shape of each output for an input of ``input_size``
    :param model_name: the model file (or a description), named in errors and logs
    :param network: the detector preset's name
    :param num_anchors: {stride: anchors per position} of the preset, strides descending
    :return: list of :class:`StrideHeads`, strides descending
    :raises DetectorError: when the preset's strides or anchors per position differ from the
        model's, naming both and the presets that fit
    """
    groups = outputs_by_stride(output_shapes, input_size, model_name)
    check_preset_fits(groups, output_shapes, model_name, network, num_anchors)
    use_landmarks = min(len(indices) for indices in groups.values()) >= 3
    base = 3 if use_landmarks else 2
    heads = []
    for stride, indices in groups.items():
        cls, cascade_bbox = indices[0], []
        for index in indices[base:base + 2]:
            kind = output_shapes[index][1] // num_anchors[stride]
            if kind == 2:
                if cascade_bbox or cls != indices[0]:
                    break
                cls = index
            elif kind == 4:
                cascade_bbox.append(index)
        heads.append(StrideHeads(stride, cls, indices[1], indices[2] if use_landmarks else None,
                                 tuple(cascade_bbox)))
    log.info('%s: strides %s, %d anchors each, landmarks %s, cascade %s', model_name,
             list(num_anchors), next(iter(num_anchors.values())), use_landmarks,
             max(len(indices) for indices in groups.values()) > base)
    return heads


def check_preset_fits(groups, output_shapes, model_name, network, num_anchors):
    """DetectorError unless the model's strides and anchors per position (half the channels of
    each stride's first output) are the preset's; it names both and the presets that fit.

    :param groups: {stride: [output indices]} as :func:`outputs_by_stride` returns them
    """
    model_strides = list(groups)
    model_anchors = sorted({output_shapes[indices[0]][1] // 2 for indices in groups.values()})
    preset_strides = list(num_anchors)
    preset_anchors = num_anchors[preset_strides[0]]
    if model_strides == preset_strides and model_anchors == [preset_anchors]:
        return
    fitting = (presets.presets_with_layout(model_strides, model_anchors[0])
               if len(model_anchors) == 1 else [])
    raise DetectorError(
        'network preset %r does not fit %s: the preset expects strides %s with %d anchors per '
        'position, the model has outputs at strides %s with %s anchors per position; %s' % (
            network, model_name, ', '.join(map(str, preset_strides)), preset_anchors,
            ', '.join(map(str, model_strides)), '/'.join(map(str, model_anchors)),
            'presets that fit: ' + ', '.join(fitting) if fitting
            else 'no preset fits (is it a RetinaFace model?)'))
