"""A small least-recently-used cache (the detector's executors, per input shape)."""
import collections


class LruCache(collections.OrderedDict):
    """Keeps the ``size`` most recently used entries; ``get(key, make)`` builds missing ones."""

    def __init__(self, size):
        super().__init__()
        self.size = size

    def get(self, key, make):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        if len(self) > self.size:
            self.popitem(last=False)
        return value

