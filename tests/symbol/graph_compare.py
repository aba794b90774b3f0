"""Node-for-node comparison of two MXNet symbol JSON graphs (independent of the symbol package).

Attributes are compared after filling in MXNet's defaults and normalising the spelling of tuples
('(1L, 1L)', '(1,1)', '(1, 1)' are all (1, 1)); names that MXNet generates by itself
(``_plus3``, ``crop0``) are matched by position instead of by name.
"""
import json
import re

# The attributes that define each operator's computation, with MXNet's defaults.
COMPARED_ATTRS = {
    'Convolution': {'kernel': None, 'pad': '(0,0)', 'stride': '(1,1)', 'dilate': '(1,1)', 'num_filter': None,
                    'num_group': '1', 'no_bias': 'False'},
    'BatchNorm': {'eps': '0.001', 'momentum': '0.9', 'fix_gamma': 'True', 'use_global_stats': 'False',
                  'axis': '1'},
    'Activation': {'act_type': None},
    'Pooling': {'kernel': None, 'pad': '(0,0)', 'stride': '(1,1)', 'pool_type': 'max', 'global_pool': 'False'},
    'UpSampling': {'scale': None, 'sample_type': None, 'num_args': None},
    'Crop': {'num_args': None, 'offset': '(0,0)', 'h_w': '(0,0)', 'center_crop': 'False'},
    'Reshape': {'shape': None},
    'SoftmaxActivation': {'mode': 'instance'},
    'Concat': {'dim': '1', 'num_args': None},
    'elemwise_add': {},
}
AUTO_NAME = re.compile(r'^(_plus|crop|_Plus|elemwise_add|concat)\d+$')


def _normalise(value):
    value = re.sub(r'(\d)L\b', r'\1', str(value)).replace(' ', '')
    try:
        return repr(float(value))
    except ValueError:
        return value.lower() if value in ('True', 'False') else value


def op_nodes(path_or_json):
    """[(op, name, input names, {attr: normalised value})] of the operator nodes, in graph order."""
    text = open(path_or_json).read() if not path_or_json.lstrip().startswith('{') else path_or_json
    nodes = json.loads(text)['nodes']
    result = []
    for node in nodes:
        if node['op'] == 'null':
            continue
        if node['op'] not in COMPARED_ATTRS:
            raise AssertionError('operator %s (%s) is not covered by the comparison' % (node['op'], node['name']))
        attrs = node.get('attrs', node.get('param', {}))
        values = {key: _normalise(attrs.get(key, default)) for key, default in COMPARED_ATTRS[node['op']].items()}
        inputs = [nodes[i[0]]['name'] for i in node['inputs']]
        result.append((node['op'], node['name'], inputs, values))
    return result


def variable_names(path_or_json):
    text = open(path_or_json).read() if not path_or_json.lstrip().startswith('{') else path_or_json
    return [n['name'] for n in json.loads(text)['nodes'] if n['op'] == 'null']


def graph_differences(ours, released):
    """Human-readable differences between two graphs' operator nodes (empty when they are equal)."""
    a, b = op_nodes(ours), op_nodes(released)
    diffs = []
    if len(a) != len(b):
        diffs.append('%d operator nodes vs %d released' % (len(a), len(b)))
    rename = {}
    for (op_a, name_a, _, _), (op_b, name_b, _, _) in zip(a, b):
        if AUTO_NAME.match(name_a) and AUTO_NAME.match(name_b):
            rename[name_a] = name_b
    for index, (node_a, node_b) in enumerate(zip(a, b)):
        op_a, name_a, inputs_a, attrs_a = node_a
        op_b, name_b, inputs_b, attrs_b = node_b
        name_a = rename.get(name_a, name_a)
        inputs_a = [rename.get(n, n) for n in inputs_a]
        if (op_a, name_a, inputs_a, attrs_a) != (op_b, name_b, inputs_b, attrs_b):
            diffs.append('node %d: ours %s %s %s %s != released %s %s %s %s'
                         % (index, op_a, name_a, inputs_a, attrs_a, op_b, name_b, inputs_b, attrs_b))
        if len(diffs) > 10:
            break
    return diffs
