"""train.py's options (rcnn.core.options): kebab-case names, the original's snake_case spellings
accepted, the kebab-case ones shown in --help, and options that contradict each other refused."""
import pytest

from rcnn.core.options import build_parser, check_monitor_options, parse_options
from rcnn.errors import UserError


def test_the_original_command_line_parses():
    options = parse_options(['--prefix', './model/retina', '--network', 'resnet'])
    assert (options.prefix, options.network, options.lr, options.lr_step) == ('./model/retina', 'resnet', 0.001,
                                                                             '1,2,3,4,5,55,68,80')


def test_snake_case_spellings_are_aliases_of_the_kebab_case_options():
    snake = parse_options(['--network', 'mnet', '--dataset_path', 'd', '--root_path', 'r', '--pretrained_epoch', '3',
                           '--end_epoch', '7', '--lr_step', '2,5', '--frequent', '4', '--batch_images', '2',
                           '--image_size', '128', '--begin_epoch', '1', '--no_flip', '--val_every', '2',
                           '--gpu', '-1'])
    kebab = parse_options(['--network', 'mnet', '--dataset-path', 'd', '--root-path', 'r', '--pretrained-epoch', '3',
                           '--end-epoch', '7', '--lr-step', '2,5', '--frequent', '4', '--batch-images', '2',
                           '--image-size', '128', '--begin-epoch', '1', '--no-flip', '--val-every', '2',
                           '--gpus', '-1'])
    assert vars(snake) == vars(kebab)
    assert (kebab.dataset_path, kebab.end_epoch, kebab.gpus, kebab.val_every) == ('d', 7, '-1', 2)


def test_help_shows_the_kebab_case_names_only():
    text = build_parser([]).format_help()
    for name in ('--dataset-path', '--root-path', '--pretrained-epoch', '--end-epoch', '--lr-step', '--val-every',
                 '--resume-with-changes', '--gpus'):
        assert name in text, name
    for name in ('--dataset_path', '--end_epoch', '--lr_step', '--val_every', '--gpu '):
        assert name not in text, name


@pytest.mark.parametrize('argv, message', [
    (['--lr-step', '5,3'], "argument --lr-step: epochs must increase, got '5,3'"),
    (['--lr_step', '3,3'], "argument --lr-step: epochs must increase, got '3,3'"),
    (['--kvstore', 'bogus'], "argument --kvstore: unknown kvstore 'bogus': choose one of local, device, nccl, "
                             "local_update_cpu, local_allreduce_cpu, local_allreduce_device, dist_sync, dist_async, "
                             "dist_sync_device, dist_async_device, dist_device_sync, horovod"),
    (['--begin-epoch', '5', '--end-epoch', '3'], '--begin-epoch 5 is not before --end-epoch 3: nothing to train '
                                                 '(raise --end-epoch)'),
    (['--begin_epoch', '3', '--end_epoch', '3'], '--begin-epoch 3 is not before --end-epoch 3: nothing to train '
                                                 '(raise --end-epoch)'),
    (['--resume', '--overwrite'], '--resume continues the run of --prefix and --overwrite replaces it: give one '
                                  'of them'),
])
def test_contradicting_options_are_one_error_line(capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        parse_options(['--network', 'mnet'] + argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2
    assert lines == ['error: %s (see %s --help)' % (message, build_parser([]).prog)]


@pytest.mark.parametrize('options, message', [
    (['--val_every', '1'],
     '--val-every needs --val-path (a folder with label.txt and images/, e.g. data/retinaface/val)'),
    (['--early_stop', '3'], '--early-stop needs validation (--val-every N --val-path DIR)'),
])
def test_monitor_options_that_need_others_are_user_errors(options, message):
    """Library code raises UserError (the script prints it as one line), never SystemExit."""
    with pytest.raises(UserError) as err:
        check_monitor_options(parse_options(['--network', 'mnet'] + options))
    assert str(err.value) == message
