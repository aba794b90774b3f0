"""A planted pickle: a file that creates a marker file if anything unpickles it."""
import os
import pickle


class _Planted:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, ('touch %s' % self.marker,))


def plant_pickle(path, marker):
    """Write at ``path`` a pickle whose loading creates ``marker``."""
    with open(path, 'wb') as f:
        pickle.dump(_Planted(marker), f)
