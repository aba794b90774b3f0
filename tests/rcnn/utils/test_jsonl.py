"""rcnn.utils.jsonl: the one JSON-lines store. A torn last line is cut; a foreign file is refused
and left byte for byte; a bad line is named by file and line; links are refused."""
import json
import os

import pytest

from rcnn.errors import UserError
from rcnn.utils.jsonl import JsonLinesError, JsonLinesStore, read_records

HEADER = {'format': 'retinaface-detections', 'threshold': 0.5}


def lines(*records):
    return b''.join(json.dumps(r).encode() + b'\n' for r in records)


def test_append_and_read_back(tmp_path):
    path = str(tmp_path / 'd.jsonl')
    with JsonLinesStore(path, header=HEADER, required=('path',)) as store:
        store.append([{'path': 'a.jpg', 'faces': 2}])
        store.append([{'path': 'b.jpg', 'faces': 0}])
    with JsonLinesStore(path, header=HEADER, required=('path',)) as store:
        assert store.header == HEADER
        assert [r['path'] for r in store.records] == ['a.jpg', 'b.jpg']
    assert read_records(path)[1:] == [{'path': 'a.jpg', 'faces': 2}, {'path': 'b.jpg', 'faces': 0}]
    assert read_records(str(tmp_path / 'missing.jsonl')) == []


def test_a_torn_last_line_is_left_out_then_cut(tmp_path, caplog):
    path = tmp_path / 'd.jsonl'
    whole = lines(HEADER, {'path': 'a.jpg'}, {'path': 'b.jpg'})
    path.write_bytes(whole + b'{"path": "c.j')  # a writer killed in the middle of a record
    assert [r.get('path') for r in read_records(str(path))] == [None, 'a.jpg', 'b.jpg']
    assert 'd.jsonl:4: ignoring an incomplete last line' in caplog.text
    assert path.read_bytes().endswith(b'"c.j')  # reading leaves the file as it is
    with JsonLinesStore(str(path), header=HEADER, required=('path',)) as store:
        assert [r['path'] for r in store.records] == ['a.jpg', 'b.jpg']
        store.append([{'path': 'c.jpg'}])
    assert path.read_bytes() == whole + b'{"path":"c.jpg"}\n'


@pytest.mark.parametrize('contents', [
    b'my notes',                                   # one line, no newline: not a torn record
    b'my notes\nmore notes\n',
    b'{"format": "someone-else"}\n{"path": "a.jpg"}\n',
    b'{"path": "a.jpg"}\n',                        # records, but no header
    b'[1, 2, 3]\n',
    b'{"format": "retinaface-detec',               # a torn header is no header
], ids=['one-line', 'text', 'other-format', 'no-header', 'list', 'torn-header'])
def test_a_foreign_file_is_refused_untouched(tmp_path, contents):
    path = tmp_path / 'detections.jsonl'
    path.write_bytes(contents)
    with pytest.raises(UserError, match='detections.jsonl is not a retinaface-detections file'):
        JsonLinesStore(str(path), header=HEADER, required=('path',))
    assert path.read_bytes() == contents


def test_an_empty_file_is_a_new_store(tmp_path):
    path = tmp_path / 'd.jsonl'
    path.write_bytes(b'')  # a writer killed before its header
    with JsonLinesStore(str(path), header=HEADER) as store:
        assert store.records == []
        store.append([{'path': 'a.jpg'}])
    assert path.read_bytes() == (lines(HEADER) + lines({'path': 'a.jpg'})).replace(b' ', b'')


def test_a_bad_middle_line_is_named(tmp_path):
    path = tmp_path / 'd.jsonl'
    path.write_bytes(lines(HEADER, {'path': 'a.jpg'}) + b'{"path": oops}\n' + lines({'path': 'b.jpg'}))
    for read in (lambda: read_records(str(path)), lambda: JsonLinesStore(str(path), header=HEADER)):
        with pytest.raises(JsonLinesError, match=r'd\.jsonl:3: not a JSON record'):
            read()
    path.write_bytes(lines(HEADER) + b'\xff\xfe\n')
    with pytest.raises(JsonLinesError, match=r'd\.jsonl:2: not a JSON record'):
        read_records(str(path))


@pytest.mark.parametrize('record, message', [
    (b'["a.jpg", 2]', r'd\.jsonl:3: a record must be a JSON object, found list'),
    (b'"a.jpg"', r'd\.jsonl:3: a record must be a JSON object, found str'),
    (b'{"faces": 2}', r"d\.jsonl:3: record without 'path'"),
    (b'{"path": "a.jpg", "score": NaN}', r'd\.jsonl:3: not a JSON record \(NaN is not a number'),
    (b'{"path": "a.jpg", "score": -Infinity}', r'd\.jsonl:3: not a JSON record \(-Infinity'),
])
def test_records_of_the_wrong_shape_are_named(tmp_path, record, message):
    path = tmp_path / 'd.jsonl'
    plain = lines({'path': 'x.jpg'}, {'path': 'y.jpg'}) + record + b'\n'  # records only
    path.write_bytes(plain)
    with pytest.raises(JsonLinesError, match=message):
        read_records(str(path), required=('path',))
    assert path.read_bytes() == plain
    store = lines(HEADER, {'path': 'x.jpg'}) + record + b'\n'  # a store: the header, then records
    path.write_bytes(store)
    with pytest.raises(JsonLinesError, match=message):
        JsonLinesStore(str(path), header=HEADER, required=('path',))
    assert path.read_bytes() == store


def test_nan_is_never_written(tmp_path):
    path = tmp_path / 'd.jsonl'
    with JsonLinesStore(str(path), header=HEADER) as store:
        with pytest.raises(ValueError):
            store.append([{'path': 'a.jpg', 'score': float('nan')}])
    assert path.read_bytes() == lines(HEADER).replace(b' ', b'')


def test_links_are_refused(tmp_path):
    victim = tmp_path / 'victim.jsonl'
    victim.write_bytes(lines(HEADER))
    link = tmp_path / 'd.jsonl'
    link.symlink_to(victim)
    with pytest.raises(UserError, match='symbolic link'):
        JsonLinesStore(str(link), header=HEADER)
    dangling = tmp_path / 'e.jsonl'
    dangling.symlink_to(tmp_path / 'nowhere.jsonl')
    with pytest.raises(UserError, match='symbolic link'):
        JsonLinesStore(str(dangling), header=HEADER)
    assert victim.read_bytes() == lines(HEADER) and not os.path.exists(tmp_path / 'nowhere.jsonl')
