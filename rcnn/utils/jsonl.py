"""The one JSON-lines store: append-only files of JSON objects, one per line, that survive a kill.

A record is written with its newline in one write and flushed to disk, so the only damage a killed
writer leaves is a last line without its newline: a torn record. Readers drop it (with a warning);
:class:`JsonLinesStore` cuts it off before it appends. Any other bad line is an error naming the
file and line, never skipped silently.

A store may begin with a header record that says what the file is (``{"format": ...}`` and
whatever else the writer keeps there, e.g. the settings of the run); a file whose first line is not
that header is someone else's and is refused, never truncated or appended to.
"""
import json
import logging
import os

from rcnn.errors import UserError

log = logging.getLogger(__name__)
FORMAT_KEY = 'format'  # header key naming what the file holds


class JsonLinesError(UserError, ValueError):
    """A JSON-lines file that cannot be read as records; the message names the file and line."""


def _refuse_constant(name):
    """json's hook for NaN, Infinity and -Infinity: never taken silently (the writers refuse them)."""
    raise ValueError('%s is not a number a record may hold' % name)


def _parse(path, data):
    """([(line number, record)], bytes of the whole lines) of a JSON-lines file's bytes."""
    records, good_bytes, start, number = [], 0, 0, 0
    while start < len(data):
        number += 1
        end = data.find(b'\n', start)
        if end < 0:  # no newline: a record cut short by a killed writer
            log.warning('%s:%d: ignoring an incomplete last line (a killed writer)', path, number)
            break
        line = data[start:end]
        start = end + 1
        if line.strip():
            try:
                record = json.loads(line.decode('utf-8'), parse_constant=_refuse_constant)
            except (UnicodeDecodeError, ValueError) as err:
                raise JsonLinesError('%s:%d: not a JSON record (%s); is it a file of this tool?'
                                     % (path, number, str(err)[:80])) from None
            if not isinstance(record, dict):
                raise JsonLinesError('%s:%d: a record must be a JSON object, found %s'
                                     % (path, number, type(record).__name__))
            records.append((number, record))
        good_bytes = start
    return records, good_bytes


def read_records(path, required=()):
    """The records (dicts) of a JSON-lines file in order, [] when it does not exist; a torn last
    line is left out.

    :param required: keys every record must have
    :raises JsonLinesError: naming the file and line of a bad record
    """
    if not os.path.exists(path):
        return []
    with open(path, 'rb') as f:
        numbered, _ = _parse(path, f.read())
    for number, record in numbered:
        _check_keys(path, number, record, required)
    return [record for _, record in numbered]


def _check_keys(path, number, record, required):
    missing = [key for key in required if key not in record]
    if missing:
        raise JsonLinesError('%s:%d: record without %s' % (path, number, ', '.join(repr(k) for k in missing)))


def _open_append(path, create):
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, 'O_NOFOLLOW', 0) | (os.O_CREAT | os.O_EXCL if create else 0)
    try:
        return os.fdopen(os.open(path, flags, 0o666), 'a', encoding='utf-8')
    except OSError as err:
        raise UserError('cannot write %s: %s' % (path, err.strerror or err)) from None


class JsonLinesStore:
    """An append-only JSON-lines file, opened for more records.

    :param path: the file; created (never through a link) when missing; an empty file is taken
        as a new one
    :param header: the first record of a file this store writes (a dict with ``"format"``), or
        None for a file of records only. An existing file must start with a record of the same
        format, else it is refused.
    :param required: keys every (non-header) record must have
    :raises UserError: for a link at ``path``, a foreign or damaged file, naming it

    ``header`` is the header found (or written); ``records`` the records after it.
    """

    def __init__(self, path, header=None, required=()):
        self.path = path
        if os.path.islink(path):
            raise UserError('%s is a symbolic link; results are never written through links, '
                            'choose another output' % path)
        exists = os.path.exists(path)
        if exists and os.path.getsize(path):
            self.header, self.records = self._load(header, required)
            self._file = _open_append(path, create=False)
        else:  # new, or empty (a writer killed before its first line): nothing to keep
            self.header, self.records = header, []
            self._file = _open_append(path, create=not exists)
            if header is not None:
                self._write([header])

    def _load(self, header, required):
        with open(self.path, 'rb') as f:
            data = f.read()
        try:
            numbered, good_bytes = _parse(self.path, data)
        except JsonLinesError:
            if header is not None and not data.startswith(b'{"%s"' % FORMAT_KEY.encode()):
                raise self._foreign(header) from None
            raise
        found = None
        if header is not None:
            if not numbered or numbered[0][0] != 1 or numbered[0][1].get(FORMAT_KEY) != header[FORMAT_KEY]:
                raise self._foreign(header)
            found = numbered.pop(0)[1]
        for number, record in numbered:
            _check_keys(self.path, number, record, required)
        if good_bytes < len(data):
            with open(self.path, 'r+b') as f:
                f.truncate(good_bytes)
        return found, [record for _, record in numbered]

    def _foreign(self, header):
        return UserError('%s is not a %s file (its first line is not the header this tool writes); '
                         'choose another output, or move the file away' % (self.path, header[FORMAT_KEY]))

    def _write(self, records):
        self._file.write(''.join(json.dumps(r, separators=(',', ':'), allow_nan=False) + '\n' for r in records))
        self._file.flush()
        os.fsync(self._file.fileno())

    def append(self, records):
        """Write records (dicts) and flush them to disk before returning."""
        records = list(records)
        self._write(records)
        self.records.extend(records)

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
