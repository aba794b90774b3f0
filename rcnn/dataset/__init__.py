"""Image databases: label files read into roidbs (lists of per-image dicts)."""
from .imdb import IMDB
from .retinaface import retinaface
