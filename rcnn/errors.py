"""The project's error classes, in one place (no argparse, no MXNet).

Every expected failure (a missing or corrupt file, a bad option, a bad label line) is a
:class:`UserError`: a command prints it as ONE line ``error: <message>`` and exits with status 1
(:func:`rcnn.utils.cli.run_main`). Its message names the file, line or option at fault and what to
do. Any other exception is a bug and keeps its traceback. The subclasses also derive from the
built-in exception a caller might already catch (``ValueError``, ``IOError``).
"""


class UserError(Exception):
    """An expected failure the user can fix; the message names the file, line or option at fault
    and what to do."""


class CheckpointError(UserError):
    """A checkpoint file that is missing, truncated, corrupt or does not match its meta JSON; the
    message names the file."""


class ImageFileError(UserError, IOError):
    """An image file that is missing, cannot be decoded or cannot be written; the message names
    the file."""


class ImageTooLargeError(UserError):
    """An image whose network input would pass the pixel budget; the message names the image,
    its size, the scale and the options that change the outcome."""


class LabelFileError(UserError, ValueError):
    """A label.txt line that cannot be read, or an image it names that is missing."""

    def __init__(self, path, line_no, reason):
        super().__init__('%s:%d: %s' % (path, line_no, reason))
        self.path, self.line_no, self.reason = path, line_no, reason


class MissingLabelFile(UserError, FileNotFoundError):
    """The label.txt of a split does not exist."""


class DetectorError(UserError, ValueError):
    """A bad argument of the detector: an image it cannot take, an option out of range, or a
    network preset that does not fit the model. The message says what was given."""


class ModelFileError(UserError, IOError):
    """An ONNX model file that is missing or that ONNX Runtime cannot load; the message names it."""


class TrainingDiverged(UserError):
    """A loss or metric became NaN or infinite."""


class PredictionFormatError(UserError, ValueError):
    """A prediction file that does not follow the submission format; names the file and line."""

    def __init__(self, path, line, message):
        super().__init__('%s:%d: %s' % (path, line, message))
        self.path = path
        self.line = line


class GroundTruthError(UserError, ValueError):
    """A ground-truth file (.mat or label.txt) that is missing or cannot be read; names it."""


class MissingPredictionsError(UserError):
    """Ground-truth images without a prediction file, where the options do not allow them."""
