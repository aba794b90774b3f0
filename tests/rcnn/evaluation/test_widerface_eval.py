"""WIDER FACE evaluator: the official tool's own PR files, hand-built cases, loop references, the
command line's bad-input table and the two ways of scoring a subset."""
import contextlib
import decimal
import io
import os

import numpy as np
import pytest
import scipy.io

from rcnn.errors import GroundTruthError, PredictionFormatError
from rcnn.evaluation import widerface_eval as we
from tests.cli_cases import assert_one_error, assert_success, load_script, run_command, run_in_process
from tests.shared_data import shared_path, widerface_val_images

tool = load_script(os.path.join('tools', 'widerface_eval.py'), 'widerface_eval_tool')

CHARRIN = ('reference_outputs', 'charrin_retinaface_cpp')
# The official MATLAB tool's APs (from its own PR files) and the Python port's, in percent.
OFFICIAL_AP = {'mnet.25': (83.2900, 77.0253, 39.5298), 'R50': (92.2509, 88.8636, 64.0238)}
PYTHON_AP = {'mnet.25': (83.2621, 77.0101, 39.5356), 'R50': (92.3610, 88.9359, 64.0906)}


# ---------------------------------------------------------------- the real val set

@pytest.fixture(scope='module')
def val_gt():
    return we.load_ground_truth(shared_path('annotations', 'widerface_eval_gt'))


@pytest.mark.parametrize('model', ['mnet.25', 'R50'])
def test_val_set_matches_official_pr_files_and_both_protocols(val_gt, model):
    h5py = pytest.importorskip('h5py')
    predictions, missing = we.read_predictions(shared_path(*CHARRIN, model, 'python_detect'), val_gt.keys)
    assert missing == [] and len(predictions) == 3226

    curves, _ = we.compute_pr_curves(predictions, val_gt, 'official')
    for setting, curve in curves.items():
        path = shared_path(*CHARRIN, model, 'wider_python',
                           'wider_pr_info_retina_python_%s_val.mat' % setting)
        with h5py.File(path, 'r') as f:
            official_precision, official_recall = f['pr_cruve'][:]
        np.testing.assert_array_equal(curve.precision, official_precision)
        np.testing.assert_array_equal(curve.recall, official_recall)
    assert [round(100 * c.ap, 4) for c in curves.values()] == list(OFFICIAL_AP[model])

    curves, _ = we.compute_pr_curves(predictions, val_gt, 'python')
    assert [round(100 * c.ap, 4) for c in curves.values()] == list(PYTHON_AP[model])


def test_val_ground_truth_counts(val_gt):
    assert len(val_gt.keys) == 3226 and sum(len(b) for b in val_gt.boxes) == 39708
    assert val_gt.keys[0] == '0--Parade/0_Parade_marchingband_1_465'
    counts = {s: sum(len(k) for k in keep) for s, keep in val_gt.settings.items()}
    assert counts == {'easy': 7211, 'medium': 13319, 'hard': 31958}


# ---------------------------------------------------------------- hand-built cases

FACE_A, FACE_B = [10, 10, 20, 20], [100, 100, 30, 30]
FAR = [500, 500, 20, 20]


def one_image(faces, counted, detections):
    """GroundTruth of one image 'e/i' with the given faces, and its predictions dict."""
    gt = we.GroundTruth(['e/i'], [np.array(faces, np.int32).reshape(-1, 4)],
                        {'easy': [np.array(counted, np.int64)]})
    return gt, {'e/i': np.array(detections, np.float64).reshape(-1, 5)}


def ap(gt, predictions, protocol):
    return we.evaluate(predictions, gt, protocol)['easy']


@pytest.mark.parametrize('protocol', we.PROTOCOLS)
def test_perfect_detections(protocol):
    gt, pred = one_image([FACE_A, FACE_B], [0, 1], [FACE_A + [1.0], FACE_B + [0.5]])
    assert ap(gt, pred, protocol) == pytest.approx(1.0)


@pytest.mark.parametrize('protocol', we.PROTOCOLS)
def test_all_false(protocol):
    gt, pred = one_image([FACE_A, FACE_B], [0, 1], [FAR + [1.0], [300, 50, 40, 40, 0.5]])
    assert ap(gt, pred, protocol) == 0.0


@pytest.mark.parametrize('protocol', we.PROTOCOLS)
def test_duplicate_is_a_false_positive(protocol):
    # normalised scores 1, 0.5, 0: precision 1 up to recall 1/2, then 2/3 at recall 1
    gt, pred = one_image([FACE_A, FACE_B], [0, 1],
                         [FACE_A + [1.0], FACE_A + [0.75], FACE_B + [0.5]])
    assert ap(gt, pred, protocol) == pytest.approx(0.5 + 0.5 * 2 / 3)


@pytest.mark.parametrize('protocol', we.PROTOCOLS)
def test_match_to_an_ignored_face_is_discarded(protocol):
    # B is outside the setting: its detection is neither true nor false (precision NaN at first)
    gt, pred = one_image([FACE_A, FACE_B], [0], [FACE_B + [1.0], FAR + [0.75], FACE_A + [0.5]])
    curves, _ = we.compute_pr_curves(pred, gt, protocol)
    assert np.isnan(curves['easy'].precision[0])
    assert curves['easy'].ap == pytest.approx(0.5)


@pytest.mark.parametrize('protocol', we.PROTOCOLS)
def test_unsorted_file_is_sorted_per_image(protocol):
    gt, pred = one_image([FACE_A, FACE_B], [0, 1],
                         [FACE_B + [0.5], FACE_A + [0.75], FACE_A + [1.0]])
    assert ap(gt, pred, protocol) == pytest.approx(0.5 + 0.5 * 2 / 3)


@pytest.mark.parametrize('protocol', we.PROTOCOLS)
@pytest.mark.parametrize('low, high', [(2.0, 7.0), (-3.0, 2.0), (0.0, 1000.0)])
def test_scores_outside_unit_range(protocol, low, high):
    scores = np.array([1.0, 0.75, 0.5])
    scores = low + (scores - 0.5) * 2 * (high - low)
    gt, pred = one_image([FACE_A, FACE_B], [0, 1],
                         [FACE_A + [scores[0]], FACE_A + [scores[1]], FACE_B + [scores[2]]])
    assert ap(gt, pred, protocol) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_official_first_face_reaching_half_python_best_face():
    # The detection is FACE_A exactly; face 0 (outside the setting) overlaps it with IoU 99/143.
    gt, pred = one_image([[12, 10, 10, 10], [10, 10, 10, 10]], [1],
                         [[10, 10, 10, 10, 1.0], FAR + [0.5]])
    assert ap(gt, pred, 'python') == pytest.approx(1.0)
    assert ap(gt, pred, 'official') == 0.0


def test_official_single_precision_drops_an_unrepresentable_lowest_score():
    # single(0.8) > 0.8, so norm_score.m gives the lowest detection a score just below 0
    gt, pred = one_image([FACE_A, FACE_B], [0, 1], [FACE_A + [1.0], FACE_B + [0.8]])
    assert ap(gt, pred, 'python') == pytest.approx(1.0)
    assert ap(gt, pred, 'official') == pytest.approx(0.5)


def test_missing_images_and_empty_ground_truth():
    gt = we.GroundTruth(['e/a', 'e/b', 'e/c'],
                        [np.array([FACE_A], np.int32), np.array([FACE_B], np.int32),
                         np.zeros((0, 4), np.int32)],
                        {'easy': [np.array([0]), np.array([0]), np.array([], np.int64)]})
    # e/c has no faces: its detections are skipped, not false positives; e/b has no predictions
    pred = {'e/a.jpg': np.array([FACE_A + [1.0]]), 'e/c': np.array([FAR + [0.5]])}
    curves, missing = we.compute_pr_curves(pred, gt)
    assert missing == ['e/b'] and curves['easy'].num_faces == 2
    assert curves['easy'].ap == pytest.approx(0.5)
    assert we.evaluate(pred, gt, only_predicted_images=True)['easy'] == pytest.approx(1.0)


def test_xyxy_detections_equal_xywh_files():
    gt, pred = one_image([FACE_A, FACE_B], [0, 1],
                         [FACE_A + [0.9], [102, 98, 31, 29, 0.7], FAR + [0.6]])
    xyxy = pred['e/i'].copy()
    xyxy[:, 2:4] += xyxy[:, 0:2] - 1
    for protocol in we.PROTOCOLS:
        assert we.evaluate({'e/i': xyxy}, gt, protocol, box_format='xyxy') == we.evaluate(pred, gt, protocol)


def test_matlab_round_halves_away_from_zero():
    x = np.array([-2.5, -1.5, -0.5, -0.49999999999999994, 0.49999999999999994, 0.5, 1.5, 2.5, 2.4])
    np.testing.assert_array_equal(we.matlab_round(x), [-3, -2, -1, -0, 0, 1, 2, 3, 2])


def test_voc_ap_ignores_nan_precision():
    recall = np.array([0.0, 0.5, 0.5, 1.0])
    precision = np.array([np.nan, 1.0, 0.5, 0.5])
    assert we.voc_ap(recall, precision) == pytest.approx(0.75)


# ---------------------------------------------------------------- loop references

def _round_half_away(x):
    return float(decimal.Decimal(float(x)).quantize(0, rounding=decimal.ROUND_HALF_UP))


def _loop_iou(gt, det, official):
    """One face against one detection, written out as the MATLAB / Cython code does it."""
    gx1, gy1, gx2, gy2 = gt[0], gt[1], gt[0] + gt[2], gt[1] + gt[3]
    dx1, dy1, dx2, dy2 = det[0], det[1], det[0] + det[2], det[1] + det[3]
    if official:
        r = _round_half_away
        w = r(min(gx2, dx2)) - r(max(gx1, dx1)) + 1
        h = r(min(gy2, dy2)) - r(max(gy1, dy1)) + 1
        if w <= 0 or h <= 0:
            return 0.0
        union = r((gx2 - gx1 + 1) * (gy2 - gy1 + 1) + (dx2 - dx1 + 1) * (dy2 - dy1 + 1)) - w * h
        return r(w * h / union)
    w = min(dx2, gx2) - max(dx1, gx1) + 1
    h = min(dy2, gy2) - max(dy1, gy1) + 1
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / ((dx2 - dx1 + 1) * (dy2 - dy1 + 1) + (gx2 - gx1 + 1) * (gy2 - gy1 + 1) - w * h)


def _loop_pr(gt, predictions, protocol, setting='easy'):
    """The tools' per-detection, per-threshold loops (evaluation.m / evaluation.py)."""
    official = protocol == 'official'
    dets = {k: v[np.argsort(-v[:, 4], kind='stable')] for k, v in predictions.items()}
    raw = np.concatenate([d[:, 4] for d in dets.values()])
    low, high = raw.min(), raw.max()
    totals = np.zeros((1000, 2))
    num_faces = 0
    for key, faces, keep in zip(gt.keys, gt.boxes, gt.settings[setting]):
        num_faces += len(keep)
        det = dets.get(key, np.zeros((0, 5)))
        if len(faces) == 0 or len(det) == 0:
            continue
        if official:
            f32 = np.float32
            scores = [float(f32(s - float(f32(low))) / (f32(high) - f32(low))) for s in det[:, 4]]
        else:
            scores = [(s - low) / (high - low) for s in det[:, 4]]
        found = [0] * len(faces)
        recall, proposal = [], []
        for d in det:
            iou = [_loop_iou(f, d, official) for f in faces]
            best = int(np.argmax(iou))
            proposal.append(1)
            if iou[best] >= 0.5:
                if best not in keep:
                    found[best] = -1
                    proposal[-1] = 0
                elif found[best] == 0:
                    found[best] = 1
            recall.append(found.count(1))
        for t in range(1000):
            threshold = 1 - (t + 1) / 1000
            last = max([i for i, s in enumerate(scores) if s >= threshold], default=-1)
            if last >= 0:
                totals[t] += [sum(proposal[:last + 1]), recall[last]]
    with np.errstate(divide='ignore', invalid='ignore'):
        return totals[:, 1] / totals[:, 0], totals[:, 1] / num_faces


@pytest.mark.parametrize('protocol', we.PROTOCOLS)
def test_random_sets_equal_the_loop_reference(rng, protocol):
    keys, boxes, keep, predictions = [], [], [], {}
    for image in range(25):
        n = int(rng.integers(0, 7))
        xy = rng.integers(0, 200, (n, 2))
        wh = rng.integers(4, 40, (n, 2))
        faces = np.hstack([xy, wh]).astype(np.int32)
        keys.append('e/%d' % image)
        boxes.append(faces)
        keep.append(np.flatnonzero(rng.random(n) < 0.6))
        picked = faces[rng.random(n) < 0.8].astype(np.float64)
        picked += rng.normal(0, 1.5, picked.shape)
        picked = np.vstack([picked, picked[:1]])  # a duplicate
        noise = np.hstack([rng.uniform(0, 200, (2, 2)), rng.uniform(2, 40, (2, 2))])
        det = np.vstack([picked, noise])
        det[:, 2:] = np.maximum(det[:, 2:], 1)
        scores = rng.choice([0.95, 0.9, 0.85, 0.8, 0.8, 0.7, 0.55], len(det))
        if image % 5 != 3:
            predictions[keys[-1]] = np.hstack([det, scores[:, None]])[rng.permutation(len(det))]
    gt = we.GroundTruth(keys, boxes, {'easy': keep})
    curves, _ = we.compute_pr_curves(predictions, gt, protocol)
    precision, recall = _loop_pr(gt, predictions, protocol)
    np.testing.assert_array_equal(curves['easy'].precision, precision)
    np.testing.assert_array_equal(curves['easy'].recall, recall)
    assert 0.2 < curves['easy'].ap < 0.95


# ---------------------------------------------------------------- files and command line

def write_prediction(folder, key, rows, count=None, name=None):
    path = os.path.join(folder, key + '.txt')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('%s\n%d\n' % (name or key + '.jpg', len(rows) if count is None else count))
        for row in rows:
            f.write(' '.join(str(v) for v in row) + '\n')
    return path


def write_mat_ground_truth(folder, events):
    """The official .mat layout: events = {event: {image: (faces (M,4), counted indices)}}."""
    def cell(items):
        out = np.empty((len(items), 1), dtype=object)
        for i, item in enumerate(items):
            out[i, 0] = item
        return out

    names = list(events)
    common = {'event_list': cell([np.array([e]) for e in names]),
              'file_list': cell([cell([np.array([i]) for i in events[e]]) for e in names]),
              'face_bbx_list': cell([cell([np.array(f, np.int32).reshape(-1, 4)
                                           for f, _ in events[e].values()]) for e in names])}
    scipy.io.savemat(os.path.join(folder, 'wider_face_val.mat'), common)
    for setting in we.SETTINGS:
        gt_list = cell([cell([np.array(k, np.float64).reshape(-1, 1) + 1 for _, k in events[e].values()])
                        for e in names])
        scipy.io.savemat(os.path.join(folder, 'wider_%s_val.mat' % setting), dict(common, gt_list=gt_list))


@pytest.fixture
def small_set(tmp_path):
    gt_dir, pred_dir = tmp_path / 'gt', tmp_path / 'pred'
    gt_dir.mkdir()
    write_mat_ground_truth(str(gt_dir), {'0--Parade': {'a': ([FACE_A, FACE_B], [0, 1]), 'b': ([FACE_A], [0])},
                                         '1--Handshaking': {'c': ([FACE_B], [0])}})
    write_prediction(str(pred_dir), '0--Parade/a', [FACE_A + [1.0], FACE_B + [0.5]])
    write_prediction(str(pred_dir), '1--Handshaking/c', [FACE_B + [0.75], FAR + [0.6]])
    return str(gt_dir), str(pred_dir)


def test_mat_loader_and_the_two_ways_of_scoring_a_subset(small_set, capsys):
    gt_dir, pred_dir = small_set
    gt = we.load_ground_truth(gt_dir)
    assert gt.keys == ['0--Parade/a', '0--Parade/b', '1--Handshaking/c']
    assert [k.tolist() for k in gt.settings['hard']] == [[0, 1], [0], [0]]
    expected = {
        # recall 1/4, 1/2 at precision 1, then 3/4 at 3/4
        '--allow-missing': ('on all 3 ground-truth images (1 without a prediction file in %s, '
                            'counted as images without detections):' % pred_dir, 'easy     68.75%'),
        # b's face left out: recall 1/3, 2/3 at precision 1, then 3/3 at 3/4
        '--only-predicted': ('on the 2 images with a prediction file in %s (1 of the 3 ground-truth '
                             'images have none and are left out):' % pred_dir, 'easy     91.67%'),
    }
    for option, (scope, easy) in expected.items():
        outcome = run_in_process(tool.main, ['--pred', pred_dir, '--gt', gt_dir, '--protocol', 'python',
                                           option], capsys)
        assert_success(outcome)
        lines = outcome[1].splitlines()
        assert lines[:2] == ['WIDER FACE AP (python protocol) ' + scope, easy]


def test_command_line_writes_plot_and_curves(small_set, tmp_path, capsys):
    gt_dir, pred_dir = small_set
    png, npz, table = tmp_path / 'pr.png', tmp_path / 'pr.npz', tmp_path / 'pr.csv'
    tool.main(['--pred', pred_dir, '--gt', gt_dir, '--plot', str(png), '--curves', str(npz), '--allow-missing'])
    tool.main(['--pred', pred_dir, '--gt', gt_dir, '--curves', str(table), '--allow-missing'])
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    saved = np.load(npz)
    assert saved['thresholds'][0] == 0.999 and saved['thresholds'][-1] == 0
    assert float(saved['easy_ap']) == pytest.approx(0.6875)
    rows = [line for line in table.read_text().splitlines() if not line.startswith('#')]
    assert rows[0].startswith('threshold,easy_precision,easy_recall') and len(rows) == 1001


@pytest.mark.parametrize('body, line, message', [
    ('e/x.jpg\n', 2, 'missing line 2'),
    ('e/x.jpg\ntwo\n', 2, 'number of faces'),
    ('e/x.jpg\n2\n1 2 3 4 0.9\n1 2 3 0.8\n', 4, 'x y w h score'),
    ('e/x.jpg\n1\n1 2 3 4 high\n', 3, 'x y w h score'),
    ('e/x.jpg\n1\n1 2 3 4 nan\n', 3, 'x y w h score'),
    ('e/x.jpg\n3\n1 2 3 4 0.9\n\n5 6 7 8 0.7\n', 2, 'gives 3 faces but 2'),
])
def test_malformed_prediction_file_names_file_and_line(tmp_path, body, line, message):
    path = tmp_path / 'x.txt'
    path.write_text(body)
    with pytest.raises(PredictionFormatError, match=message) as error:
        we.read_prediction_file(str(path))
    assert str(error.value).startswith('%s:%d:' % (path, line))


def test_prediction_file_tolerates_blank_lines_and_extra_columns(tmp_path):
    path = write_prediction(str(tmp_path), 'e/x', [[1, 2, 3, 4, 0.9, 7], [5, 6, 7, 8, 0.5]])
    with open(path, 'a') as f:
        f.write('\n\n')
    np.testing.assert_array_equal(we.read_prediction_file(path), [[1, 2, 3, 4, 0.9], [5, 6, 7, 8, 0.5]])


def test_label_txt_ground_truth(tmp_path):
    label = tmp_path / 'label.txt'
    label.write_text('# 0--Parade/a.jpg\n10 10 20 20\n100 100 30 30\n# 0--Parade/b.jpg\n10 10 20 20\n')
    predictions = {'0--Parade/a.jpg': np.array([FACE_A + [1.0], FACE_B + [0.5]])}
    assert we.evaluate_label_txt(predictions, str(label)) == {'all': pytest.approx(2 / 3)}
    bad = tmp_path / 'bad.txt'
    bad.write_text('# e/a.jpg\n10 10 x 20\n')
    with pytest.raises(GroundTruthError, match='bad.txt:2:'):
        we.load_label_txt(str(bad))


def test_val_label_txt_equals_mat_boxes(val_gt):
    labels = we.load_label_txt(shared_path('annotations', 'retinaface_gt_val', 'label.txt'))
    boxes = dict(zip(labels.keys, labels.boxes))
    assert sorted(boxes) == sorted(val_gt.keys)
    assert all(np.array_equal(boxes[k], b) for k, b in zip(val_gt.keys, val_gt.boxes))


# ---------------------------------------------------------------- bad input, one line each

@pytest.fixture
def bad_inputs(small_set, tmp_path):
    """Paths for the table: the small set plus broken ground truth and prediction files."""
    gt_dir, pred_dir = small_set
    corrupt = tmp_path / 'corrupt_gt'
    corrupt.mkdir()
    (corrupt / 'wider_face_val.mat').write_bytes(b'MATLAB 5.0 MAT-file' + b'\0' * 20)
    wrong = tmp_path / 'wrong_gt'
    wrong.mkdir()
    scipy.io.savemat(str(wrong / 'wider_face_val.mat'), {'something_else': np.zeros(3)})
    malformed = tmp_path / 'malformed'
    write_prediction(str(malformed), '0--Parade/a', [FACE_A + [1.0]], count=2)
    write_prediction(str(malformed), '0--Parade/b', [FACE_A + [1.0]])
    write_prediction(str(malformed), '1--Handshaking/c', [FACE_B + [0.7]])
    (tmp_path / 'bad_label.txt').write_text('# 0--Parade/a.jpg\n10 10 x 20\n')
    latin1 = tmp_path / 'latin1'
    write_prediction(str(latin1), '0--Parade/a', [FACE_A + [1.0]])
    write_prediction(str(latin1), '0--Parade/b', [FACE_A + [1.0]])
    write_prediction(str(latin1), '1--Handshaking/c', [FACE_B + [0.7]])
    (latin1 / '0--Parade' / 'a.txt').write_bytes(b'0--Parade/a.jpg\n1\n1 2 3 4 0.5 caf\xe9\n')  # Latin-1
    (tmp_path / 'latin1_label.txt').write_bytes(b'# 0--Parade/a.jpg\n10 10 20 20 \xff\n')
    (tmp_path / 'empty_label.txt').write_bytes(b'')
    (tmp_path / 'folder.csv').mkdir()
    return dict(gt=gt_dir, pred=pred_dir, corrupt=corrupt, wrong=wrong, malformed=malformed,
                latin1=latin1, folder_csv=tmp_path / 'folder.csv', tmp=tmp_path)


# (argv, exit status, strings the one error line must name)
BAD_INPUTS = [
    (['--pred', '{pred}', '--gt', '{gt}'], 1, ['1 of 3 ground-truth images have no prediction file',
                                               '0--Parade/b.txt', '--only-predicted', '--allow-missing']),
    (['--pred', '{tmp}/none', '--gt', '{gt}'], 1, ['prediction folder not found', '{tmp}/none']),
    (['--pred', '{tmp}', '--gt', '{gt}'], 1, ['none of the 3 ground-truth images', '{tmp}']),
    (['--pred', '{pred}', '--gt', '{tmp}/nogt'], 1, ['ground truth not found: {tmp}/nogt',
                                                  'nor a label.txt']),
    (['--pred', '{pred}', '--gt', '{tmp}'], 1, ['{tmp}/wider_face_val.mat', 'not found']),
    (['--pred', '{pred}', '--gt', '{corrupt}'], 1, ['{corrupt}/wider_face_val.mat', 'not a readable']),
    (['--pred', '{pred}', '--gt', '{wrong}'], 1, ['{wrong}/wider_face_val.mat', 'layout']),
    (['--pred', '{malformed}', '--gt', '{gt}'], 1, ['{malformed}/0--Parade/a.txt:2:']),
    (['--pred', '{pred}', '--gt', '{tmp}/bad_label.txt'], 1, ['{tmp}/bad_label.txt:2:']),
    (['--pred', '{pred}', '--gt', '{gt}', '--only-predicted', '--allow-missing'], 2,
     ['--allow-missing', '--only-predicted']),
    (['--pred', '{pred}', '--gt', '{gt}', '--protocol', 'matlab'], 2, ['--protocol', 'matlab']),
    (['--pred', '{pred}'], 2, ['--gt']),
    (['--pred', '{pred}', '--gt', '{gt}', '--allow-missing', '--plot', '{tmp}/no/pr.png'], 1,
     ['{tmp}/no/pr.png']),
    (['--pred', '{pred}', '--gt', '{gt}', '--allow-missing', '--curves', '{tmp}/no/pr.csv'], 1,
     ['{tmp}/no/pr.csv']),
    (['--pred', '{pred}', '--gt', '{gt}', '--allow-missing', '--plot', '{tmp}/pr.xyz'], 2,
     ['--plot', '{tmp}/pr.xyz', '.png or .pdf or .svg']),
    (['--pred', '{pred}', '--gt', '{gt}', '--allow-missing', '--curves', '{tmp}/pr.txt'], 2,
     ['--curves', '{tmp}/pr.txt', '.npz or .csv']),
    (['--pred', '{pred}', '--gt', '{gt}', '--allow-missing', '--plot', '{tmp}'], 2, ['--plot', '{tmp}']),
    (['--pred', '{pred}', '--gt', '{gt}', '--allow-missing', '--curves', '{folder_csv}'], 1,
     ['{folder_csv}', 'it is a folder']),
    (['--pred', '{latin1}', '--gt', '{gt}'], 1, ['{latin1}/0--Parade/a.txt:3:', 'not UTF-8']),
    (['--pred', '{pred}', '--gt', '{tmp}/latin1_label.txt'], 1, ['{tmp}/latin1_label.txt:2:', 'not UTF-8']),
    (['--pred', '{pred}', '--gt', '{tmp}/empty_label.txt'], 1, ['{tmp}/empty_label.txt', 'lists no images']),
]


@pytest.mark.parametrize('argv, status, names', BAD_INPUTS,
                         ids=[' '.join(argv) for argv, _, _ in BAD_INPUTS])
def test_bad_input_gives_one_error_line(argv, status, names, bad_inputs, capsys):
    outcome = run_in_process(tool.main, [a.format(**bad_inputs) for a in argv], capsys)
    assert_one_error(outcome, status, *[n.format(**bad_inputs) for n in names])
    assert outcome[1] == '' and outcome[2].count('\n') == 1


@pytest.fixture(scope='module')
def five_reference_files(tmp_path_factory):
    """The original's mnet.25 files of the 5 val images we have, alone in a folder."""
    folder = tmp_path_factory.mktemp('five')
    reference = shared_path(*CHARRIN, 'mnet.25', 'python_detect')
    for name, _ in widerface_val_images():
        key = name[:-4] + '.txt'
        os.makedirs(folder / os.path.dirname(key), exist_ok=True)
        (folder / key).write_bytes(open(os.path.join(reference, key), 'rb').read())
    return str(folder)


def test_five_image_subset_on_the_real_command_line(five_reference_files, val_gt):
    gt_dir = shared_path('annotations', 'widerface_eval_gt')
    outcome = run_command('tools/widerface_eval.py', '--pred', five_reference_files, '--gt', gt_dir)
    assert_one_error(outcome, 1, '3221 of 3226 ground-truth images have no prediction file',
                     '--only-predicted')
    assert outcome[2].count('\n') == 1  # one line, not a list of the 3221 files
    outcome = run_command('tools/widerface_eval.py', '--pred', five_reference_files, '--gt', gt_dir,
                          '--only-predicted')
    assert_success(outcome)
    rows = [val_gt.keys.index(name[:-4]) for name, _ in widerface_val_images()]
    subset = we.GroundTruth([val_gt.keys[i] for i in rows], [val_gt.boxes[i] for i in rows],
                            {s: [keep[i] for i in rows] for s, keep in val_gt.settings.items()})
    aps = we.evaluate(five_reference_files, subset)
    assert outcome[1].splitlines()[1:] == ['%-7s %6.2f%%' % (s, 100 * ap) for s, ap in aps.items()]
    assert 'on the 5 images with a prediction file' in outcome[1]
    # scoring all of val instead, the 3221 missing images count as misses: much lower AP
    outcome = run_in_process_free(tool.main, ['--pred', five_reference_files, '--gt', gt_dir,
                                            '--allow-missing'])
    assert 'on all 3226 ground-truth images (3221 without a prediction file' in outcome
    whole = [float(line.split()[1][:-1]) for line in outcome.splitlines()[1:]]
    assert all(w < 100 * ap / 10 for w, ap in zip(whole, aps.values()))


def run_in_process_free(main, argv):
    """What ``main(argv)`` prints on stdout (where capsys is not at hand)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(argv) == 0
    return printed.getvalue()


def test_plot_and_curves_replace_a_planted_link_instead_of_following_it(small_set, tmp_path, capsys):
    gt_dir, pred_dir = small_set
    victim = tmp_path / 'victim.txt'
    victim.write_bytes(b'not yours')
    out = tmp_path / 'out'
    out.mkdir()
    for name in ('pr.png', 'pr.npz', 'pr.csv'):
        (out / name).symlink_to(victim)
    for plot, curves in (('pr.png', 'pr.npz'), (None, 'pr.csv')):
        argv = ['--pred', pred_dir, '--gt', gt_dir, '--allow-missing', '--curves', str(out / curves)]
        assert_success(run_in_process(tool.main, argv + (['--plot', str(out / plot)] if plot else []), capsys))
    assert victim.read_bytes() == b'not yours'
    assert sorted(os.listdir(out)) == ['pr.csv', 'pr.npz', 'pr.png']  # no temporary file left
    assert not any(os.path.islink(out / name) for name in os.listdir(out))
    assert (out / 'pr.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert float(np.load(out / 'pr.npz')['easy_ap']) == pytest.approx(0.6875)


def test_curves_go_to_exactly_the_path_asked(small_set, tmp_path, capsys):
    gt_dir, pred_dir = small_set
    tmp_path = tmp_path / 'out'
    tmp_path.mkdir()
    for name in ('PR.NPZ', 'pr.svg'):
        option = '--plot' if name.endswith('.svg') else '--curves'
        argv = ['--pred', pred_dir, '--gt', gt_dir, '--allow-missing', option, str(tmp_path / name)]
        assert_success(run_in_process(tool.main, argv, capsys))
    assert sorted(os.listdir(tmp_path)) == ['PR.NPZ', 'pr.svg']
    assert b'<svg' in (tmp_path / 'pr.svg').read_bytes()[:400]
    outcome = run_in_process(tool.main, ['--pred', pred_dir, '--gt', gt_dir, '--curves', str(tmp_path / 'pr.txt')],
                             capsys)
    assert_one_error(outcome, 2, '--curves', 'pr.txt')
    assert sorted(os.listdir(tmp_path)) == ['PR.NPZ', 'pr.svg']  # no pr.txt, no pr.txt.npz


def test_label_txt_with_a_byte_order_mark_is_ground_truth(tmp_path):
    label = tmp_path / 'label.txt'
    label.write_bytes(b'\xef\xbb\xbf# 0--Parade/a.jpg\r\n10 10 20 20\r\n')
    gt = we.load_label_txt(str(label))
    assert gt.keys == ['0--Parade/a'] and gt.boxes[0].tolist() == [[10, 10, 20, 20]]

