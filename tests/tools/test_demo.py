"""End to end on the CPU: `make demo` trains mnet from scratch on generated faces and finds the
held-out faces. Slow (minutes): it is the whole training path, loader to checkpoint to detector."""
import os

import cv2
import pytest

from tests.cli_cases import load_script


@pytest.mark.slow
def test_demo_trains_a_detector_that_finds_held_out_faces(tmp_path):
    demo = load_script('tools/demo.py', 'demo_tool')  # tools/__init__.py's demo() is the installed command
    ap = demo.main(['--out', str(tmp_path)])
    assert ap > 0.8
    drawn = cv2.imread(str(tmp_path / 'detections.jpg'))
    assert drawn is not None and drawn.shape[:2] == (320, 320)
    assert os.path.exists(str(tmp_path / 'model' / 'retina-0000.params'))
