"""Image databases: label files read into roidbs (lists of per-image dicts)."""
from rcnn.dataset.imdb import IMDB
from rcnn.dataset.retinaface import retinaface
