"""rcnn.pipeline.inputs: a list file is UTF-8 text (a byte-order mark, as Windows editors write
it, is not part of the first name); other bytes are one error naming the line."""
import pytest

from rcnn.errors import UserError
from rcnn.pipeline.inputs import InputItem, list_inputs


def test_a_list_file_with_a_byte_order_mark_names_its_first_image(tmp_path):
    (tmp_path / 'list.txt').write_bytes(b'\xef\xbb\xbfa.jpg\r\nsub/b.png\r\n')
    assert list_inputs(str(tmp_path / 'list.txt')) == [InputItem('a.jpg', str(tmp_path / 'a.jpg')),
                                                       InputItem('sub/b.png', str(tmp_path / 'sub/b.png'))]


def test_a_list_file_that_is_not_utf8_is_one_error_naming_the_line(tmp_path):
    (tmp_path / 'list.txt').write_bytes(b'a.jpg\ncaf\xe9.jpg\n')  # Latin-1
    with pytest.raises(UserError) as refused:
        list_inputs(str(tmp_path / 'list.txt'))
    assert str(refused.value) == ('%s:2: not UTF-8 text (byte 0xe9); the list file must be UTF-8 text '
                                  'naming one image per line' % (tmp_path / 'list.txt'))
