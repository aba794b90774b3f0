"""What the train.py tests share: a small generated data set, and the configuration that
rcnn.core.run.train_net changes put back afterwards."""
import contextlib

from rcnn.config import config, generate_config
from rcnn.dataset.synthetic import write_split


def small_faces(tmp_path_factory, num_images):
    """A folder with a generated ``train`` split of ``num_images`` 160-pixel images."""
    root = tmp_path_factory.mktemp('faces')
    write_split(str(root), 'train', num_images, seed=5, height=160, width=160, min_side=24, max_side=64)
    return root


@contextlib.contextmanager
def restored_train_config():
    """Put back the default network preset and what train_net sets (batch images, crop size)."""
    batch_images, scales = config.TRAIN.BATCH_IMAGES, config.SCALES
    try:
        yield
    finally:
        generate_config('resnet', 'retinaface')
        config.TRAIN.BATCH_IMAGES, config.SCALES = batch_images, scales
