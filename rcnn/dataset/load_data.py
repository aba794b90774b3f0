"""Loading the training roidb (the original's ``rcnn.dataset.load_data`` helpers)."""
import logging

from rcnn import dataset as datasets

log = logging.getLogger(__name__)


def load_gt_roidb(dataset_name, image_set_name, root_path, dataset_path, flip=False, **kwargs):
    """Ground-truth roidb of one split, with flipped copies appended when ``flip``.

    :param dataset_name: image database class in :mod:`rcnn.dataset` (``retinaface``)
    :param kwargs: passed to the class (e.g. ``check_images``)
    """
    try:
        imdb_class = getattr(datasets, dataset_name)
    except AttributeError:
        raise ValueError('unknown dataset %r' % dataset_name) from None
    imdb = imdb_class(image_set_name, root_path, dataset_path, **kwargs)
    roidb = imdb.gt_roidb()
    log.info('roidb size %d', len(roidb))
    if flip:
        roidb = imdb.append_flipped_images(roidb)
        log.info('flipped roidb size %d', len(roidb))
    return roidb

