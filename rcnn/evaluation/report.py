"""What an evaluation reports: the printed AP lines, and the PR curves as a plot (PNG, PDF, SVG)
or as numbers (.npz, .csv).

Files are written through :mod:`rcnn.utils.safe_write` (a fresh temporary file renamed over the
target: a link there is replaced, never followed) at exactly the path asked; a file name whose
extension names no format these writers know is refused before anything is computed.
"""
import collections
import csv
import os

import numpy as np

from rcnn.errors import UserError
from rcnn.evaluation.average_precision import THRESHOLDS
from rcnn.utils import safe_write

PLOT_FORMATS = ('.png', '.pdf', '.svg')
CURVE_FORMATS = ('.npz', '.csv')

Coverage = collections.namedtuple('Coverage', 'scored total missing only_predicted source')
Coverage.__doc__ = """Which images a score covers.

scored: images scored; total: images of the ground truth; missing: keys of ground-truth images
without a prediction file; only_predicted: whether those were left out (else they count as images
without detections); source: the prediction folder.
"""


def check_output_name(path, formats, what):
    """``path`` when its extension is one of ``formats`` (compared in lower case).

    :raises UserError: naming the file and the extensions accepted
    """
    if os.path.splitext(path)[1].lower() not in formats:
        raise UserError('cannot write the %s to %s: the file name must end in %s'
                        % (what, path, ' or '.join(formats)))
    return path


def plot_pr_curves(curves, path, title='WIDER FACE val'):
    """Write the precision-recall curves of every setting as a picture (matplotlib, Agg), in the
    format of the file name's extension (:data:`PLOT_FORMATS`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    check_output_name(path, PLOT_FORMATS, 'plot')
    figure = Figure(figsize=(6.4, 5.6), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for setting, curve in curves.items():
        axes.plot(curve.recall, curve.precision, linewidth=2,
                  label='%s: AP %.2f%% (%d faces)' % (setting, 100 * curve.ap, curve.num_faces))
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel('Recall (fraction of faces found)')
    axes.set_ylabel('Precision (fraction of detections correct)')
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc='lower left')
    figure.tight_layout()
    image_format = os.path.splitext(path)[1].lower()[1:]
    with safe_write.open_atomic(path, 'wb') as f:
        figure.savefig(f, format=image_format)


def _write_csv(curves, f, protocol):
    for setting, curve in curves.items():
        f.write('# %s AP %.6f, %d faces, protocol %s\n' % (setting, curve.ap, curve.num_faces, protocol))
    writer = csv.writer(f)
    writer.writerow(['threshold'] + ['%s_%s' % (s, q) for s in curves for q in ('precision', 'recall')])
    for t, threshold in enumerate(THRESHOLDS):
        writer.writerow(['%.3f' % threshold] + ['%.10g' % v for curve in curves.values()
                                                 for v in (curve.precision[t], curve.recall[t])])


def _curve_arrays(curves, protocol):
    arrays = {'thresholds': THRESHOLDS, 'protocol': np.array(protocol)}
    for setting, curve in curves.items():
        arrays.update({'%s_precision' % setting: curve.precision, '%s_recall' % setting: curve.recall,
                       '%s_ap' % setting: np.array(curve.ap),
                       '%s_num_faces' % setting: np.array(curve.num_faces)})
    return arrays


def save_curves(curves, path, protocol=''):
    """Write the curves as numbers at exactly ``path``: ``.npz`` (arrays) or ``.csv`` (one row per
    threshold, after one ``# <setting> AP ...`` comment line per setting)."""
    check_output_name(path, CURVE_FORMATS, 'curves')
    if path.lower().endswith('.csv'):
        with safe_write.open_atomic(path, 'w') as f:
            _write_csv(curves, f, protocol)
    else:
        with safe_write.open_atomic(path, 'wb') as f:
            np.savez(f, **_curve_arrays(curves, protocol))


def format_report(curves, protocol, coverage):
    """The result as the command lines print it: a line saying which images were scored, then
    one ``<setting> <AP>%`` line per setting."""
    if coverage.only_predicted:
        scope = ('the %d images with a prediction file in %s (%d of the %d ground-truth images '
                 'have none and are left out)' % (coverage.scored, coverage.source,
                                                  len(coverage.missing), coverage.total))
    elif coverage.missing:
        scope = ('all %d ground-truth images (%d without a prediction file in %s, counted as '
                 'images without detections)' % (coverage.total, len(coverage.missing),
                                                 coverage.source))
    else:
        scope = 'all %d ground-truth images, predictions from %s' % (coverage.total, coverage.source)
    lines = ['WIDER FACE AP (%s protocol) on %s:' % (protocol, scope)]
    lines += ['%-7s %6.2f%%' % (setting, 100 * curve.ap) for setting, curve in curves.items()]
    return '\n'.join(lines)


def write_output(writer, curves, path, what, *args):
    """``writer(curves, path, *args)`` (:func:`plot_pr_curves`, :func:`save_curves`), with a
    UserError naming ``path`` when it cannot be written."""
    try:
        writer(curves, path, *args)
    except OSError as err:
        raise UserError('cannot write the %s to %s: %s' % (what, path, err.strerror or err)) from None
