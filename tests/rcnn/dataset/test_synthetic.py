import cv2
import numpy as np

from rcnn.dataset import retinaface
from rcnn.dataset.synthetic import write_split


def test_generated_split_reads_back_with_faces_where_labelled(tmp_path, mnet_config):
    label = write_split(str(tmp_path / 'data'), 'train', num_images=4, seed=1)
    again = write_split(str(tmp_path / 'again'), 'train', num_images=4, seed=1)
    assert open(label).read() == open(again).read()
    roidb = retinaface('train', str(tmp_path / 'root'), str(tmp_path / 'data')).gt_roidb()
    assert len(roidb) == 4 and sum(len(r['boxes']) for r in roidb) >= 8
    for roi in roidb:
        im = cv2.imread(roi['image'])
        assert (roi['width'], roi['height']) == (im.shape[1], im.shape[0])
        assert (roi['landmarks'][:, :, 2] == 1).all()
        for box, points in zip(roi['boxes'], roi['landmarks']):
            assert ((points[:, 0] > box[0]) & (points[:, 0] < box[2]) &
                    (points[:, 1] > box[1]) & (points[:, 1] < box[3])).all()
            # the eyes are drawn dark on a lighter face
            x1, y1, x2, y2 = box.astype(int)
            face = im[y1:y2, x1:x2].astype(float).mean()
            for px, py in points[:2, :2].round().astype(int):
                assert im[py, px].astype(float).mean() < face - 20
