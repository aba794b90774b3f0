import os
import re
import subprocess
import sys

import numpy as np
import pytest

from rcnn.config import config, default, generate_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def restore_resnet():
    yield
    generate_config('resnet', 'retinaface')


def test_mnet_preset():
    generate_config('mnet', 'retinaface')
    assert config.RPN_FEAT_STRIDE == [32, 16, 8]
    assert config.NUM_ANCHORS == 2
    assert config.HEAD_FILTER_NUM == 64
    assert config.TRAIN.BATCH_IMAGES == 16
    assert config.LANDMARK_LR_MULT == 2.5
    assert config.LAYER_FIX is True
    np.testing.assert_array_equal(config.PIXEL_MEANS, [0, 0, 0])
    assert default.pretrained == 'model/mobilenet025fd0'
    assert all(v['NUM_ANCHORS'] == 2 for v in config.RPN_ANCHOR_CFG.values())


def test_resnet_preset_and_no_leak_from_previous_call():
    generate_config('mnet', 'retinaface')
    generate_config('resnet', 'retinaface')
    assert config.HEAD_FILTER_NUM == 256
    assert config.TRAIN.BATCH_IMAGES == 8
    assert config.LANDMARK_LR_MULT == 2.0
    assert config.LAYER_FIX is False
    assert default.lr == 0.001 and default.lr_step == '1,2,3,4,5,55,68,80'
    assert default.pretrained == 'model/resnet-50'
    assert config.network == 'resnet' and config.dataset == 'retinaface'


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match='unknown network'):
        generate_config('vgg19', 'retinaface')
    with pytest.raises(ValueError, match='unknown dataset'):
        generate_config('mnet', 'coco')


def test_every_key_has_a_comment():
    import inspect

    import sample_config
    for line in inspect.getsource(sample_config).splitlines():
        if re.match(r'^(config|network|dataset|default)(\.\w+)+ = ', line):
            assert '#' in line, 'undocumented key: ' + line


def test_generate_config_returns_a_new_object_each_call_and_sets_the_module_level_one():
    first = generate_config('mnet', 'retinaface')
    first.TRAIN.BATCH_IMAGES = 3
    second = generate_config('mnet', 'retinaface')
    assert first is not second and first.TRAIN is not second.TRAIN and second.TRAIN.BATCH_IMAGES == 16
    assert config is not second and config.TRAIN.BATCH_IMAGES == 16 and config.network == 'mnet'
    config.TRAIN.BATCH_IMAGES = 5  # an original-style script editing the global changes no run's object
    assert second.TRAIN.BATCH_IMAGES == 16


def test_build_config_changes_no_global():
    import rcnn.config
    generate_config('resnet', 'retinaface')
    cfg, defaults = rcnn.config.build_config('mnet', 'retinaface')
    assert cfg.HEAD_FILTER_NUM == 64 and defaults.pretrained == 'model/mobilenet025fd0'
    assert config.HEAD_FILTER_NUM == 256 and default.pretrained == 'model/resnet-50'


def test_tests_use_the_sample_configuration():
    import rcnn.config
    assert rcnn.config.SETTINGS_PATH == os.path.join(ROOT, 'sample_config.py')


def test_unused_keys_are_read_by_no_code():
    """No Python file but the configuration's own reads a key grouped as 'accepted for
    compatibility, not used' (``.KEY`` or ``['KEY']``; for TEST.* the TEST group itself)."""
    import sample_config
    sources = {}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith('.') and d not in ('output', 'build', 'data', 'model')]
        for name in files:
            if name.endswith('.py') and name not in ('sample_config.py', 'config.py', 'test_sample_config.py'):
                path = os.path.join(folder, name)
                sources[path] = open(path, encoding='utf-8').read()
    assert len(sample_config.UNUSED_KEYS) == 23
    for key in sample_config.UNUSED_KEYS:
        name = 'TEST' if key.startswith('TEST.') else key.split('.')[-1]
        access = re.compile(r"\.%s\b|\[['\"]%s['\"]\]" % (name, name))
        readers = [path for path, text in sources.items() if access.search(text)]
        assert readers == [], '%s is read in %s' % (key, readers)


def run_with_settings(tmp_path, edits, code="from rcnn.config import generate_config; "
                                             "generate_config('mnet', 'retinaface')"):
    settings = tmp_path / 'my_config.py'
    text = open(os.path.join(ROOT, 'sample_config.py')).read()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    settings.write_text(text)
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, RETINAFACE_CONFIG=str(settings)))
    return proc, str(settings)


def test_a_changed_unused_key_is_warned_about(tmp_path):
    proc, path = run_with_settings(tmp_path, [('config.NET_MODE = 2 ', 'config.NET_MODE = 3 '),
                                              ('config.TEST.NMS = 0.3 ', 'config.TEST.NMS = 0.45 ')])
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if 'accepted for compatibility' in line]
    assert warnings == [
        '%s sets NET_MODE = 3 (default 2): this key is accepted for compatibility with the original and has no '
        'effect here' % path,
        '%s sets TEST.NMS = 0.45 (default 0.3): this key is accepted for compatibility with the original and has '
        'no effect here' % path]


def test_unchanged_unused_keys_and_the_preset_values_are_not_warned_about(tmp_path):
    """mnet's preset sets max_feat_channel 8888 (the default is 9999): the same in both files, no warning."""
    proc, _ = run_with_settings(tmp_path, [('config.USE_CROP = True', 'config.USE_CROP = False')])
    assert proc.returncode == 0 and proc.stderr == '', proc.stderr


def train_help_with_settings(path):
    """(exit status, stderr lines) of ``train.py --help`` with RETINAFACE_CONFIG=path (the help
    shows option defaults read from the settings)."""
    proc = subprocess.run([sys.executable, 'train.py', '--help'], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, RETINAFACE_CONFIG=str(path)))
    return proc.returncode, proc.stderr.strip().splitlines()


def test_a_missing_settings_file_is_one_error_line(tmp_path):
    missing = str(tmp_path / 'nope.py')
    assert train_help_with_settings(missing) == (1, [
        'error: RETINAFACE_CONFIG=%s: no such file; name a copy of %s or unset it'
        % (missing, os.path.join(ROOT, 'sample_config.py'))])


def test_a_settings_file_with_a_syntax_error_is_named_with_its_line(tmp_path):
    path = tmp_path / 'my_config.py'
    text = open(os.path.join(ROOT, 'sample_config.py')).read()
    line = text[:text.index('config.LR_MODE = 0')].count('\n') + 1
    path.write_text(text.replace('config.LR_MODE = 0', 'config.LR_MODE = (0'))
    status, lines = train_help_with_settings(path)
    assert status == 1 and len(lines) == 1, lines
    assert re.fullmatch(r"error: %s:%d: syntax error: .+; fix the settings file \(a copy of sample_config.py\)"
                        % (re.escape(str(path)), line), lines[0]), lines[0]


def test_a_settings_file_that_fails_while_running_is_named_with_its_line(tmp_path):
    path = tmp_path / 'my_config.py'
    path.write_text('from easydict import EasyDict as edict\nconfig = edict()\nconfig.X = undefined_name\n')
    assert train_help_with_settings(path) == (1, [
        "error: %s:3: NameError: name 'undefined_name' is not defined; fix the settings file (a copy of "
        "sample_config.py)" % path])


def test_a_settings_file_without_the_settings_is_named(tmp_path):
    path = tmp_path / 'my_config.py'
    path.write_text('from easydict import EasyDict as edict\nconfig = edict()\nnetwork = {}\n')
    assert train_help_with_settings(path) == (1, [
        'error: %s does not define the settings dataset, default: a settings file is a copy of sample_config.py '
        'with its values changed' % path])


def test_an_old_settings_file_with_its_own_generate_config_keeps_working(tmp_path):
    """A copy of sample_config.py from before the merge moved to rcnn/config.py: its functions are used."""
    path = tmp_path / 'old_config.py'
    text = open(os.path.join(ROOT, 'sample_config.py')).read()
    path.write_text(text + '''

def generate_config(network_name, dataset_name):
    """The original's: sets the globals, returns nothing."""
    for k, v in network[network_name].items():
        if k in config:
            config[k] = v
    config.network = network_name
    config.RPN_FEAT_STRIDE = [32, 16, 8]
    config.NUM_ANCHORS = 2
    config.OLD_FILE = True
''')
    code = ('from rcnn.config import config, generate_config; cfg = generate_config("mnet", "retinaface"); '
            'print(cfg.OLD_FILE, cfg.HEAD_FILTER_NUM, config.OLD_FILE)')
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, RETINAFACE_CONFIG=str(path)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['True', '64', 'True']


def test_sample_config_is_found_as_a_module_not_beside_the_package(tmp_path):
    """rcnn.config locates sample_config through the import system (a pip install puts it in
    site-packages, not beside rcnn/): here the first sample_config.py on the path is another folder's."""
    elsewhere = tmp_path / 'site'
    elsewhere.mkdir()
    (elsewhere / 'sample_config.py').write_text(open(os.path.join(ROOT, 'sample_config.py')).read())
    env = {k: v for k, v in os.environ.items() if k != 'RETINAFACE_CONFIG'}
    env['PYTHONPATH'] = os.pathsep.join([str(elsewhere), ROOT])
    proc = subprocess.run([sys.executable, '-c', 'import rcnn.config; print(rcnn.config.SETTINGS_PATH)'],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    expected = os.path.join(ROOT, 'config.py') if os.path.exists(os.path.join(ROOT, 'config.py')) \
        else str(elsewhere / 'sample_config.py')
    assert proc.stdout.strip() == expected
