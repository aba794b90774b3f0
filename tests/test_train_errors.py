"""Every expected failure of train.py ends with ONE line ``error: ...`` naming the file, line or
option, and a non-zero exit status, before any data worker process starts."""
import json
import os

import mxnet as mx
import pytest

from rcnn.core import loader
from rcnn.core.options import parse_options
from rcnn.core.run import train_net
from rcnn.dataset.synthetic import write_split
from rcnn.utils import checkpoint, cli
from tests.cli_cases import peak_memory_command, write_black_png, write_png_header_only
from tests.cli_cases import assert_one_error as assert_one_error_line
from tests.planted_pickle import plant_pickle
from tests.train_runs import restored_train_config, small_faces


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return small_faces(tmp_path_factory, 4)


@pytest.fixture(autouse=True)
def no_workers_and_restored_config(monkeypatch):
    def workers_started(*args, **kwargs):
        raise AssertionError('data workers started before the error')
    monkeypatch.setattr(loader, 'WorkerPool', workers_started)
    with restored_train_config():
        yield


def argv(data_root, prefix, *options):
    return ['--network', 'mnet', '--dataset_path', str(data_root), '--root_path', str(prefix) + '-cache',
            '--prefix', str(prefix), '--pretrained', '', '--image_size', '128', '--batch_images', '2',
            '--workers', '1', '--no_flip', '--no_tensorboard'] + list(options)


def train_main(argv):
    """What train.py runs (the script only wires these two calls)."""
    train_net(parse_options(argv))


def run_main(capsys, args):
    """(exit status, the error lines of stderr, the last line of stderr)."""
    with pytest.raises(SystemExit) as stop:
        cli.run_main(train_main, args)
    lines = capsys.readouterr().err.strip().splitlines()
    return stop.value.code, [line for line in lines if line.startswith('error:')], lines[-1]


def assert_one_error(capsys, args, code, expected):
    status, errors, last = run_main(capsys, args)
    assert (status, errors, last) == (code, [expected], expected)


@pytest.mark.parametrize('option, value, reason', [
    ('--lr', 'nan', "must be a finite number, got 'nan'"),
    ('--lr', '0', "must be in (0, inf], got '0'"),
    ('--wd', '-1', "must be in [0, inf], got '-1'"),
    ('--batch-images', '0', "must be in [1, inf], got '0'"),
    ('--end-epoch', '2.5', "expected a number, got '2.5'"),
    ('--image-size', '16', "must be in [32, inf], got '16'"),
    ('--workers', '-1', "must be in [0, inf], got '-1'"),
    ('--seed', '-3', "must be in [0, 4294967295], got '-3'"),
    ('--resume', '-1', "must be in [0, inf], got '-1'"),
    ('--lr-step', '3,x', "must be a comma-separated list of epochs, got '3,x'"),
    ('--lr-step', '0,2', "epochs must be > 0, got '0,2'"),
    ('--gpus', 'one', "expected GPU ids such as '0,1' (or -1 for the CPU), got 'one'"),
    ('--val-threshold', '2', "must be in [0, 1], got '2'"),
    ('--val-scale', 'inf', "must be a finite number, got 'inf'"),
])
def test_bad_numeric_option(capsys, data_root, tmp_path, option, value, reason):
    assert_one_error(capsys, argv(data_root, tmp_path / 'retina', option, value), 2,  # the name, not its aliases
                     'error: argument %s: %s (see %s --help)' % (option, reason, os.path.basename(
                         __import__('sys').argv[0])))
    assert not os.listdir(tmp_path)


def test_resume_with_overwrite(capsys, data_root, tmp_path):
    status, errors, _ = run_main(capsys, argv(data_root, tmp_path / 'retina', '--resume', '--overwrite'))
    assert status == 2 and errors[0].startswith('error: --resume continues the run of --prefix and --overwrite')


def test_no_data(capsys, tmp_path):
    label = tmp_path / 'nowhere' / 'train' / 'label.txt'
    assert_one_error(capsys, argv(tmp_path / 'nowhere', tmp_path / 'retina'), 1,
                     'error: label file not found: %s (expected <--dataset-path>/<split>/label.txt from the '
                     'RetinaFace annotation release)' % label)


def test_no_backbone(capsys, data_root, tmp_path):
    args = argv(data_root, tmp_path / 'retina', '--pretrained', str(tmp_path / 'model' / 'resnet-50'))
    assert_one_error(capsys, args, 1,
                     "error: pretrained checkpoint %s-0000.params not found. Put it there (see model/README.md "
                     "for the ImageNet backbones and released models), or pass --pretrained '' to train from "
                     "scratch." % (tmp_path / 'model' / 'resnet-50'))


def test_corrupt_backbone(capsys, data_root, tmp_path):
    (tmp_path / 'mnet-0000.params').write_bytes(b'not weights')
    args = argv(data_root, tmp_path / 'retina', '--pretrained', str(tmp_path / 'mnet'))
    assert_one_error(capsys, args, 1, 'error: %s is not a complete MXNet weights file (truncated or corrupt?)'
                     % (tmp_path / 'mnet-0000.params'))


def test_bad_labels(capsys, tmp_path):
    write_split(str(tmp_path), 'train', 2, seed=1, height=160, width=160, min_side=24, max_side=64)
    label = tmp_path / 'train' / 'label.txt'
    lines = label.read_text().splitlines()
    lines[1] = 'nan ' + lines[1].split(' ', 1)[1]
    label.write_text('\n'.join(lines) + '\n')
    status, errors, last = run_main(capsys, argv(tmp_path, tmp_path / 'retina'))
    assert status == 1 and errors == [last]
    assert last.startswith('error: %s:2: a number is not finite (nan or inf): ' % label)


def split_with(tmp_path, name, write):
    """A generated train split whose label.txt also lists ``name``, written by ``write(path)``;
    (dataset root, label.txt path, image path, label line of ``name``)."""
    write_split(str(tmp_path), 'train', 4, seed=1, height=160, width=160, min_side=24, max_side=64)
    label = tmp_path / 'train' / 'label.txt'
    lines = label.read_text().splitlines()
    label.write_text('\n'.join(lines + ['# ' + name, lines[1]]) + '\n')
    image = tmp_path / 'train' / 'images' / name
    write(image)
    return tmp_path, label, image, len(lines) + 1


def test_an_image_header_over_the_decoding_limit_is_one_line(capsys, tmp_path):
    """A 100-byte PNG claiming 50000x50000 (PIL raised DecompressionBombError with a traceback)."""
    root, label, image, line = split_with(tmp_path / 'data', 'claims.png',
                                          lambda path: write_png_header_only(path, 50000, 50000))
    expected = ('error: %s:%d: image %s is 50000x50000 (2500.0 megapixels), over the limit of %s'
                % (label, line, image, '%s'))
    assert_one_error(capsys, argv(root, tmp_path / 'retina', '--max-megapixels', '0'), 1, expected % (
        '1073.7 that OpenCV decodes; remove it from the split or shrink it'))
    assert_one_error(capsys, argv(root, tmp_path / 'retina'), 1, expected % (
        '64.0 (--max-megapixels); remove it from the split, shrink it or raise --max-megapixels'))
    assert [n for n in os.listdir(tmp_path) if n.endswith(('.params', '.json', '.jsonl'))] == []


@pytest.mark.slow
def test_a_24000_pixel_png_is_one_line_before_decoding_under_500_mb(tmp_path):
    """576 megapixels pass OpenCV's limit; decoded for training it took 3.6 GB resident."""
    root, label, image, line = split_with(tmp_path / 'data', 'big.png', lambda path: write_black_png(path, 24000))
    outcome = peak_memory_command('train.py', *argv(root, tmp_path / 'retina', '--end-epoch', '1'))
    assert_one_error_line(outcome[:3], 1, '%s:%d: image %s is 24000x24000 (576.0 megapixels), over the limit of '
                          '64.0 (--max-megapixels)' % (label, line, image))
    assert outcome[3] < 500, outcome[3]
    assert not os.path.exists(str(tmp_path / 'retina') + '-0000.params')


def test_too_few_images(capsys, data_root, tmp_path):
    assert_one_error(capsys, argv(data_root, tmp_path / 'retina', '--batch_images', '5'), 1,
                     'error: 4 training images with faces in %s (train) cannot fill one batch of 5 per worker: '
                     'add images or lower --batch-images' % data_root)


def test_validation_without_val_path(capsys, data_root, tmp_path):
    assert_one_error(capsys, argv(data_root, tmp_path / 'retina', '--val_every', '1'), 1,
                     'error: --val-every needs --val-path (a folder with label.txt and images/, '
                     'e.g. data/retinaface/val)')


def test_existing_run_is_not_overwritten(capsys, data_root, tmp_path):
    prefix = tmp_path / 'retina'
    history = '{"kind": "train", "step": 1}\n' * 16
    (tmp_path / 'retina-metrics.jsonl').write_text(history)
    assert_one_error(capsys, argv(data_root, prefix), 1,
                     'error: %s already holds a training run (%s-metrics.jsonl): continue it with --resume, '
                     'replace it with --overwrite, or choose another --prefix' % (prefix, prefix))
    assert (tmp_path / 'retina-metrics.jsonl').read_text() == history


def fake_run(prefix):
    """A complete checkpoint set of a small graph, as a killed run could leave it."""
    weights = {'fc_weight': mx.nd.ones((2, 3)), 'fc_bias': mx.nd.ones((2,))}
    symbol = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=2, name='fc')
    for epoch in (1, 0):
        checkpoint.save_checkpoint(str(prefix), epoch, symbol, weights, {}, meta={'epoch': 1},
                                   optimizer_states={'state:0': mx.nd.ones((2, 3))})


def test_resume_refuses_a_torn_set_and_offers_the_newest_complete(capsys, data_root, tmp_path):
    prefix = tmp_path / 'retina'
    fake_run(prefix)
    with open(str(prefix) + '-0000.params', 'ab') as f:
        f.write(b'\0')
    assert_one_error(capsys, argv(data_root, prefix, '--resume'), 1,
                     'error: cannot resume: %s-0000.params does not match the sha256 that %s-0000.json records '
                     'for it (a torn or edited checkpoint); the newest complete checkpoint is %s-0001: continue '
                     'from it with --resume 1' % (prefix, prefix, prefix))


def test_resume_without_meta_refuses(capsys, data_root, tmp_path):
    prefix = tmp_path / 'retina'
    fake_run(prefix)
    os.remove(str(prefix) + '-0000.json')
    os.remove(str(prefix) + '-0001.json')
    assert_one_error(capsys, argv(data_root, prefix, '--resume'), 1,
                     'error: cannot resume: %s-0000.json not found: the checkpoint set is incomplete (%s-0000.params, '
                     '%s-0000.states without it); no complete numbered checkpoint of %s exists: start again with '
                     '--overwrite' % (prefix, prefix, prefix, prefix))


def test_resume_never_unpickles_states(capsys, data_root, tmp_path):
    prefix = tmp_path / 'retina'
    fake_run(prefix)
    marker = tmp_path / 'marker'
    states = str(prefix) + '-0000.states'
    plant_pickle(states, marker)
    meta = json.load(open(str(prefix) + '-0000.json'))
    meta[checkpoint.DIGESTS_KEY]['retina-0000.states'] = checkpoint.file_sha256(states)
    json.dump(meta, open(str(prefix) + '-0000.json', 'w'))
    status, errors, last = run_main(capsys, argv(data_root, prefix, '--resume'))
    assert status == 1 and errors == [last]
    assert last.startswith('error: cannot resume: %s is not an NDArray optimizer-state file' % states)
    assert not marker.exists()


def test_overwrite_never_removes_the_pretrained_weights(capsys, data_root, tmp_path):
    """Fine-tuning a run's own checkpoint under its prefix: --overwrite would delete it first."""
    prefix = tmp_path / 'retina'
    fake_run(prefix)
    options = argv(data_root, prefix, '--overwrite', '--pretrained', str(prefix), '--pretrained_epoch', '1')
    assert_one_error(capsys, options, 1, 'error: --overwrite would remove %s-0001.params, the --pretrained weights '
                                         'of this run: choose another --prefix' % prefix)
    assert os.path.exists(str(prefix) + '-0001.params') and os.path.exists(str(prefix) + '-0000.json')


def test_prefix_folder_that_cannot_be_made(capsys, data_root, tmp_path):
    """It used to train a whole epoch, then fail on the first save."""
    (tmp_path / 'file').write_text('')
    prefix = tmp_path / 'file' / 'retina'
    assert_one_error(capsys, argv(data_root, prefix), 1,
                     'error: --prefix %s: cannot make the folder %s (File exists)' % (prefix, tmp_path / 'file'))


def resumable_run(prefix, options):
    """A complete latest checkpoint with the meta JSON train.py writes for --resume, recording the
    options of the command line ``options`` (its weights are of a small graph: the tests stop before)."""
    meta = {'epoch': 1, 'step': 2, 'batch_in_epoch': 0, 'fixed_params': [], 'loader_seed': 1, 'ohem_rng': None,
            'optimizer': None, 'args': vars(parse_options(options))}
    weights = {'fc_weight': mx.nd.ones((2, 3)), 'fc_bias': mx.nd.ones((2,))}
    symbol = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=2, name='fc')
    checkpoint.save_checkpoint(str(prefix), 0, symbol, weights, {}, meta=meta)


def test_resume_refuses_options_that_change_the_run(capsys, data_root, tmp_path):
    prefix = tmp_path / 'retina'
    resumable_run(prefix, argv(data_root, prefix))
    assert_one_error(capsys, argv(data_root, prefix, '--resume', '--lr', '0.5', '--seed', '3', '--image-size', '160',
                                  '--batch-images', '1', '--end-epoch', '20'), 1,
                     'error: cannot resume: --lr 0.5 (was 0.01), --batch-images 1 (was 2), --image-size 160 (was 128), '
                     '--seed 3 (was None) '
                     'differ from the run it continues (%s-0000.json); give the same values, or add '
                     '--resume-with-changes to continue with the new ones' % prefix)


def test_resume_refuses_another_network_even_with_changes_allowed(capsys, data_root, tmp_path):
    """It used to end in an MXNet traceback (weights of one network bound to the other's graph)."""
    prefix = tmp_path / 'retina'
    resumable_run(prefix, argv(data_root, prefix, '--network', 'resnet'))
    assert_one_error(capsys, argv(data_root, prefix, '--resume', '--resume-with-changes'), 1,
                     'error: cannot resume: %s-0000.json was trained with --network resnet, not mnet; a run keeps '
                     'its network (pass --network resnet, or start a new run with another --prefix)' % prefix)


def test_resume_with_changes_warns_and_goes_on(caplog, data_root, tmp_path):
    from rcnn.core.start import check_resumed_options
    prefix = tmp_path / 'retina'
    recorded = vars(parse_options(argv(data_root, prefix)))
    options = parse_options(argv(data_root, prefix, '--resume', '--resume-with-changes', '--lr', '0.5'))
    check_resumed_options(options, recorded, 'retina-0000.json')
    assert caplog.messages == ['resuming with options that differ from the run it continues (--lr 0.5 (was 0.01)): '
                               'the result will differ from an uninterrupted run']
    check_resumed_options(parse_options(argv(data_root, prefix, '--resume', '--end-epoch', '30')), recorded,
                          'retina-0000.json')  # a later --end-epoch continues the same run


def test_a_meta_json_of_the_wrong_shape_is_one_line(capsys, data_root, tmp_path):
    prefix = tmp_path / 'retina'
    resumable_run(prefix, argv(data_root, prefix))
    with open(str(prefix) + '-0000.json', 'w') as f:
        json.dump(['not', 'a', 'meta'], f)
    status, errors, last = run_main(capsys, argv(data_root, prefix, '--resume'))
    assert status == 1 and errors == [last]
    assert last.startswith('error: cannot resume: %s-0000.json is not a checkpoint meta JSON: it holds a list, '
                           'not an object' % prefix), last


@pytest.mark.parametrize('change, message', [
    (lambda w: mx.nd.zeros((16, 3, 3, 3)),
     'weight mobilenet0_conv0_weight has shape (16, 3, 3, 3), but the graph needs (8, 3, 3, 3): the weights are of '
     'another network'),
    (lambda w: w.astype('float16'), 'weight mobilenet0_conv0_weight is float16, not float32: not a RetinaFace '
                                    'checkpoint (convert it to float32)'),
    (lambda w: w * float('nan'), 'weight mobilenet0_conv0_weight holds 216 NaN or infinite values (a diverged run?): '
                                 'use an earlier checkpoint'),
])
def test_pretrained_weights_are_checked_naming_the_weight(capsys, data_root, tmp_path, change, message):
    """Wrong-shape and float16 weights used to end in an MXNet traceback."""
    from tests.shared_data import mnet25_prefix
    arrays = mx.nd.load(mnet25_prefix() + '-0000.params')
    arrays['arg:mobilenet0_conv0_weight'] = change(arrays['arg:mobilenet0_conv0_weight'])
    mx.nd.save(str(tmp_path / 'mnet-0000.params'), arrays)
    args = argv(data_root, tmp_path / 'retina', '--pretrained', str(tmp_path / 'mnet'))
    assert_one_error(capsys, args, 1, 'error: %s: %s' % (tmp_path / 'mnet-0000.params', message))
