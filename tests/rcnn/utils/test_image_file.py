"""rcnn.utils.image_file: sizes read from the header without decoding; a header over OpenCV's
limit is one error naming the file, in little memory; images written via safe_write."""
import os
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from rcnn.errors import ImageFileError, ImageTooLargeError
from rcnn.utils import image_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def png_header(width, height, size=100):
    """A ``size``-byte PNG whose header claims width x height (its pixel data is a few zeros)."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    head = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
    tail = chunk(b'IDAT', zlib.compress(b'\0' * 16)) + chunk(b'IEND', b'')
    padding = size - len(head) - len(tail) - 12
    return head + chunk(b'tEXt', b'c\0' + b'x' * (padding - 2)) + tail


def test_header_size_of_real_images(tmp_path):
    img = np.zeros((37, 53, 3), np.uint8)
    for ext in ('.jpg', '.png', '.bmp', '.webp', '.tif'):
        ok, data = cv2.imencode(ext, img)
        assert ok and image_file.header_size(data.tobytes()) == (53, 37), ext
        assert image_file.header_size(data) == (53, 37), ext  # a numpy buffer too
    assert image_file.header_size(b'not an image') is None
    assert image_file.header_size(b'') is None


def test_a_huge_header_is_refused_before_decoding(tmp_path):
    data = png_header(50000, 50000)
    assert len(data) == 100 and image_file.header_size(data) == (50000, 50000)
    with pytest.raises(ImageTooLargeError) as refused:
        image_file.check_header_pixels(data, 'bomb.png')
    assert str(refused.value).startswith('bomb.png: the image is 50000x50000 (2500.0 megapixels), over '
                                         'the limit of 1073.7')
    image_file.check_header_pixels(data, 'bomb.png', max_pixels=0)  # 0: no limit
    with pytest.raises(ImageTooLargeError, match='over the limit of 1.0'):
        image_file.check_header_pixels(png_header(1001, 1000), 'a.png', max_pixels=1e6)
    path = tmp_path / 'bomb.png'
    path.write_bytes(data)
    with pytest.raises(ImageTooLargeError, match='%s: the image is 50000x50000' % path):
        image_file.read_image_file(str(path))


MEMORY_PROBE = '''
import resource, sys
from rcnn.errors import ImageTooLargeError
from rcnn.utils import image_file
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in range(3):
    try:
        image_file.read_image_file(sys.argv[1])
    except ImageTooLargeError:
        pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
'''


def test_refusing_a_huge_header_takes_little_memory(tmp_path):
    path = tmp_path / 'bomb.png'
    path.write_bytes(png_header(50000, 50000))
    done = subprocess.run([sys.executable, '-c', MEMORY_PROBE, str(path)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 50 * 1024  # KiB: under 50 MB more, where decoding would take 7.5 GB


def test_read_and_decode_errors_name_the_file(tmp_path):
    with pytest.raises(ImageFileError, match='no such file'):
        image_file.read_image_file(str(tmp_path / 'missing.jpg'))
    with pytest.raises(ImageFileError, match='it is a folder'):
        image_file.read_image_file(str(tmp_path))
    (tmp_path / 'empty.jpg').write_bytes(b'')
    with pytest.raises(ImageFileError, match='empty.jpg: empty file'):
        image_file.read_image_file(str(tmp_path / 'empty.jpg'))
    (tmp_path / 'text.jpg').write_bytes(b'hello')
    with pytest.raises(ImageFileError, match='text.jpg: not an image'):
        image_file.read_image_file(str(tmp_path / 'text.jpg'))


def test_written_images_equal_imwrite_and_replace_links(tmp_path):
    img = (np.arange(20 * 30 * 3) % 251).astype(np.uint8).reshape(20, 30, 3)
    victim = tmp_path / 'victim.png'
    victim.write_bytes(b'precious')
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'drawn.png').symlink_to(victim)
    image_file.write_image_file(str(out / 'drawn.png'), img)
    assert victim.read_bytes() == b'precious' and not os.path.islink(out / 'drawn.png')
    assert cv2.imwrite(str(tmp_path / 'reference.png'), img)
    assert (out / 'drawn.png').read_bytes() == (tmp_path / 'reference.png').read_bytes()
    np.testing.assert_array_equal(image_file.read_image_file(str(out / 'drawn.png')), img)
    for bad in (out / 'drawn.xyz', tmp_path / 'missing' / 'a.png'):
        with pytest.raises(ImageFileError, match='cannot write %s' % bad):
            image_file.write_image_file(str(bad), img)
    assert sorted(os.listdir(out)) == ['drawn.png']
