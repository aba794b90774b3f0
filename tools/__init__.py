"""The command-line tools, also installed as commands (``[project.scripts]`` of pyproject.toml).

Each tool is a script, run as ``python tools/<name>.py``. The installed command
``retinaface-<name>`` runs the same file as ``__main__``, as Python runs the script, so the two
behave alike (same options, messages and exit statuses). The library never imports a tool.
"""
import runpy


def _run(name):
    runpy.run_module('%s.%s' % (__name__, name), run_name='__main__', alter_sys=True)


def audit_recall():
    _run('audit_recall')


def demo():
    _run('demo')


def detect_folder():
    _run('detect_folder')


def detect_ray():
    _run('detect_ray')


def export_onnx():
    _run('export_onnx')


def model_stats():
    _run('model_stats')


def widerface_eval():
    _run('widerface_eval')
