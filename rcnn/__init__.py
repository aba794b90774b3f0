"""RetinaFace on MXNet: data, anchor processing, training and evaluation tools (mx-rcnn layout)."""
