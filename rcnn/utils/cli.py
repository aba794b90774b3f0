"""Small argparse helpers shared by the command-line tools."""
import argparse


def parse_size(text):
    """'HxW' -> (height, width) in pixels, for ``type=`` of an argparse option."""
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError('--size must look like 480x640 (height x width), got %r' % text)
    return height, width
