"""Imports point down only (read from the source with ast; nothing is imported).

    errors, utils  ->  processing  ->  config  ->  io, dataset, evaluation, detection, symbol
                   ->  core, pipeline, export, retinaface(_onnx)  ->  scripts

A module may import its own layer or the layers before it, with these limits: io, dataset,
evaluation and detection import none of one another (io may use dataset); ``symbol`` imports only
rcnn.processing and rcnn.PY_OP (the OHEM operator) of the project; rcnn.detection imports no
training code; nothing imports a script (train.py, test.py, test_widerface.py, tools/*.py,
bench/*.py); the packages import one another without a cycle. Every violation is reported, with
the file and line of the import.
"""
import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name prefixes, layer): a module belongs to the group of its longest matching prefix.
LAYERS = [
    (('rcnn', 'rcnn.errors', 'rcnn.utils', 'rcnn.cython'), 0),
    (('rcnn.processing', 'rcnn.PY_OP'), 1),
    (('rcnn.config', 'sample_config'), 2),
    (('rcnn.io', 'rcnn.dataset', 'rcnn.evaluation', 'rcnn.detection', 'symbol'), 3),
    (('rcnn.core', 'rcnn.pipeline', 'rcnn.export', 'retinaface', 'retinaface_onnx'), 4),
    (('train', 'test', 'test_widerface', 'tools', 'bench'), 5),
]
SCRIPTS = ('train', 'test', 'test_widerface')  # and every module of tools/ and bench/
# Groups of one layer that must not import one another, and the exceptions allowed.
SIBLINGS = ('rcnn.io', 'rcnn.dataset', 'rcnn.evaluation', 'rcnn.detection')
SIBLING_EXCEPTIONS = {('rcnn.io', 'rcnn.dataset')}
# What a group may import of the project at all (besides itself), where that is narrower.
ONLY = {'symbol': ('rcnn.processing', 'rcnn.PY_OP')}
# What a group must never import.
NEVER = {'rcnn.detection': ('rcnn.core', 'rcnn.io', 'rcnn.dataset', 'symbol')}
FIRST_PARTY = {'rcnn', 'symbol', 'retinaface', 'retinaface_onnx', 'sample_config', 'train', 'test',
               'test_widerface', 'tools', 'bench'}
SOURCE_FOLDERS = ('rcnn', 'symbol', 'tools', 'bench')
ROOT_MODULES = ('retinaface.py', 'retinaface_onnx.py', 'sample_config.py', 'train.py', 'test.py',
                'test_widerface.py')


def group_of(module):
    """(group prefix, layer) of a project module name."""
    best = max(((p, layer) for prefixes, layer in LAYERS for p in prefixes
                if module == p or module.startswith(p + '.')), key=lambda item: len(item[0]), default=None)
    if best is None:
        raise ValueError('module %s is in no layer: add it to LAYERS' % module)
    return best


def is_script(module):
    return module in SCRIPTS or module.startswith(('tools.', 'bench.'))


def module_name(relative_path):
    """'rcnn/utils/jsonl.py' -> 'rcnn.utils.jsonl'; a package's __init__.py -> the package."""
    parts = relative_path[:-3].split('/')
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def project_sources(root=ROOT):
    """{module name: (relative path, source)} of every library module, script and bench file."""
    paths = [name for name in ROOT_MODULES if os.path.exists(os.path.join(root, name))]
    for folder in SOURCE_FOLDERS:
        for base, dirs, files in os.walk(os.path.join(root, folder)):
            dirs[:] = sorted(d for d in dirs if d != '__pycache__')
            paths += [os.path.relpath(os.path.join(base, f), root).replace(os.sep, '/')
                      for f in sorted(files) if f.endswith('.py')]
    sources = {}
    for path in paths:
        with open(os.path.join(root, path), encoding='utf-8') as f:
            sources[module_name(path)] = (path, f.read())
    return sources


def imports_of(module, path, source):
    """[(line, imported module name)] of the project modules ``source`` imports, anywhere in it
    (function-level imports included); ``from a import b`` counts as ``a.b`` when that may be a
    module (the layer is the same either way)."""
    package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
    found = []
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[:len(package.split('.')) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            found += [(node.lineno, '%s.%s' % (base, alias.name) if base else alias.name)
                      for alias in node.names]
    return [(line, name) for line, name in found if name.split('.')[0] in FIRST_PARTY]


def _rule_broken(importer, imported):
    """Why ``importer`` may not import ``imported`` (module names), or None."""
    if is_script(imported):
        return 'imports the script %s (nothing imports a script)' % imported
    (mine, my_layer), (theirs, their_layer) = group_of(importer), group_of(imported)
    if mine == theirs:
        return None
    if theirs in NEVER.get(mine, ()):
        return 'imports %s (%s must not import %s)' % (imported, mine, theirs)
    if mine in ONLY and theirs not in ONLY[mine]:
        return 'imports %s (%s imports only %s of the project)' % (imported, mine, ', '.join(ONLY[mine]))
    if their_layer > my_layer:
        return 'imports %s upward (%s is layer %d, %s layer %d)' % (imported, mine, my_layer, theirs, their_layer)
    if mine in SIBLINGS and theirs in SIBLINGS and (mine, theirs) not in SIBLING_EXCEPTIONS:
        return 'imports %s (%s and %s are siblings: neither imports the other)' % (imported, mine, theirs)
    return None


def _package(module):
    """The node of the package graph: 'rcnn.<sub>' or the top-level name."""
    parts = module.split('.')
    return '.'.join(parts[:2]) if parts[0] == 'rcnn' and len(parts) > 1 else parts[0]


def _cycles(edges):
    """The strongly connected components with more than one node of a {node: {node: where}} graph."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def violations(sources):
    """Every broken rule, as '<path>:<line>: <module> <reason>' lines, and every package cycle."""
    found, edges = [], {}
    for module, (path, source) in sorted(sources.items()):
        for line, imported in imports_of(module, path, source):
            reason = _rule_broken(module, imported)
            if reason:
                found.append('%s:%d: %s %s' % (path, line, module, reason))
            a, b = _package(module), _package(imported)
            if a != b:
                edges.setdefault(a, {}).setdefault(b, '%s:%d' % (path, line))
    for cycle in _cycles(edges):
        steps = ['%s -> %s (%s)' % (a, b, edges[a][b]) for a in cycle for b in cycle if b in edges.get(a, {})]
        found.append('package import cycle among %s: %s' % (', '.join(cycle), '; '.join(steps)))
    return found


def test_imports_point_down():
    found = violations(project_sources())
    assert not found, '%d import rule(s) broken:\n%s' % (len(found), '\n'.join(found))


def test_every_module_is_in_a_layer():
    for module, (path, _) in project_sources().items():
        assert group_of(module), path


# ------------------------------------------------------------- the checker can fail

def _with(extra):
    sources = dict(project_sources())
    for path, text in extra.items():
        sources[module_name(path)] = (path, text)
    return sources


@pytest.mark.parametrize('path, text, expected', [
    ('rcnn/processing/planted.py', 'from rcnn.core import loader\n',
     'rcnn/processing/planted.py:1: rcnn.processing.planted imports rcnn.core.loader upward'),
    ('rcnn/utils/planted.py', 'def f():\n    import rcnn.detection.detector\n',
     'rcnn/utils/planted.py:2: rcnn.utils.planted imports rcnn.detection.detector upward'),
    ('rcnn/evaluation/planted.py', 'from rcnn.dataset.retinaface import read_label_file\n',
     'rcnn.evaluation.planted imports rcnn.dataset.retinaface.read_label_file (rcnn.evaluation and '
     'rcnn.dataset are siblings'),
    ('rcnn/detection/planted.py', 'from rcnn.io import rpn\n',
     'rcnn.detection.planted imports rcnn.io.rpn (rcnn.detection must not import rcnn.io)'),
    ('symbol/planted.py', 'from rcnn.utils import cli\n',
     'symbol.planted imports rcnn.utils.cli (symbol imports only rcnn.processing, rcnn.PY_OP'),
    ('rcnn/core/planted.py', 'from .. import pipeline\nimport tools.detect_folder\n',
     'rcnn/core/planted.py:2: rcnn.core.planted imports the script tools.detect_folder'),
    ('rcnn/pipeline/planted.py', 'import train\n', 'rcnn.pipeline.planted imports the script train'),
])
def test_a_planted_bad_import_is_reported(path, text, expected):
    assert not any(expected in v for v in violations(project_sources()))
    assert any(expected in v for v in violations(_with({path: text}))), violations(_with({path: text}))


def test_a_package_cycle_is_reported():
    cycle = _with({'rcnn/core/planted.py': 'from rcnn.pipeline import batch_pipeline\n',
                   'rcnn/pipeline/planted.py': 'import rcnn.core.planted\n'})
    found = [v for v in violations(cycle) if v.startswith('package import cycle')]
    assert any('rcnn.core, rcnn.pipeline' in v and 'rcnn/core/planted.py:1' in v for v in found), found


def test_relative_imports_are_resolved():
    assert imports_of('rcnn.core.x', 'rcnn/core/x.py', 'from ..utils import jsonl\nfrom . import y\n') == [
        (1, 'rcnn.utils.jsonl'), (2, 'rcnn.core.y')]
    assert imports_of('rcnn.core', 'rcnn/core/__init__.py', 'from .loader import CropLoader\n') == [
        (1, 'rcnn.core.loader.CropLoader')]


@pytest.mark.parametrize('modules', ['rcnn.evaluation.widerface_eval',
                                     'rcnn.pipeline.run, rcnn.pipeline.store, rcnn.detection.detector_onnx'],
                         ids=['evaluator', 'onnx folder pipeline'])
def test_imports_without_mxnet(modules):
    """The evaluator, and the folder pipeline on ONNX Runtime, run where MXNet is not installed."""
    code = 'import sys, %s; print(sorted(m for m in sys.modules if m.startswith("mxnet")))' % modules
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '[]'
