"""RetinaFace configuration: every key the code reads, with its default.

Copy this file to ``config.py`` in the project root (or name a copy in the environment variable
``RETINAFACE_CONFIG``) to change settings; ``rcnn.config`` loads that copy when it exists and this
file otherwise. This file holds settings only: ``rcnn.config.generate_config(network, dataset)``
returns the configuration of one run, these defaults with the network preset (``network.mnet``,
``network.resnet``) and the dataset preset applied (a preset key overrides ``config`` when
``config`` has it, else ``default``, and also ``config.TRAIN`` when that has it). Keys of the
original that nothing here reads are grouped under "accepted for compatibility, not used".
"""
import numpy as np
from easydict import EasyDict as edict

from rcnn.processing.presets import anchor_config


# Anchor settings (RPN_ANCHOR_CFG: {'<stride>': {'SCALES', 'BASE_SIZE', 'RATIOS', 'ALLOWED_BORDER'}})
# of the detector presets in rcnn/processing/presets.py, the one table of anchors and pixel
# normalisation that training and the detector share.
RAC_SSH = anchor_config('net3')  # the released models: 2 square anchors per cell and stride 32/16/8
RAC_SSH2 = anchor_config('net3a')  # as RAC_SSH with a second aspect ratio (h / w = 1.5)
RAC_SSH3 = anchor_config('net4a')  # as RAC_SSH2 with a stride-4 level
RAC_RETINA = anchor_config('net5')  # RetinaNet-style: strides 4..64, 3 octave scales each

config = edict()

# --- input ---
config.PIXEL_MEANS = np.array([103.939, 116.779, 123.68])  # per-channel mean subtracted, listed B, G, R (applied to the RGB input reversed)
config.PIXEL_STDS = np.array([1.0, 1.0, 1.0])  # per-channel divisor after the mean, listed B, G, R
config.PIXEL_SCALE = 1.0  # pixels are divided by this before the mean is subtracted

# --- data set and scales ---
config.SCALES = [(640, 640)]  # (short side, max side) of the training crops

# --- anchors ---
config.RPN_ANCHOR_CFG = RAC_SSH  # anchors per stride; see RAC_* above
config.DETECTOR_PRESET = 'ssh'  # detector preset with these anchors and pixel normalisation (rcnn/processing/presets.py); recorded in checkpoints
config.DENSE_ANCHOR = False  # also place every anchor shifted by stride / 2

# --- network ---
config.HEAD_MODULE = 'SSH'  # context module on each FPN level
config.LR_MODE = 0  # 0: one learning rate for all layers
config.LANDMARK_LR_MULT = 2.0  # weight of the landmark loss relative to the box loss
config.HEAD_FILTER_NUM = 256  # channels of the FPN and SSH layers
config.CONTEXT_FILTER_RATIO = 1  # SSH context branch channels = HEAD_FILTER_NUM / 2 / ratio
config.DET_FILTER_NUM = 0  # channels out of each SSH detection module (0: HEAD_FILTER_NUM * CONTEXT_FILTER_RATIO)
config.RESNET_DEPTH = 50  # depth of the resnet backbone (50 or 152 match the model-zoo ImageNet checkpoints)
config.USE_CROP = True  # Crop the upsampled map to the lateral map before adding
config.USE_DCN = 0  # deformable convolution in the SSH module (0: off, 1 or 2: on)
config.FACE_LANDMARK = True  # predict five landmarks per anchor
config.USE_OCCLUSION = False  # encode the landmark visibility flag as a target
config.USE_BLUR = False  # regress a blur score (not used by the released models)
config.LAYER_FIX = False  # freeze the layers named by FIXED_PARAMS in the backbone
config.CASCADE = 0  # number of cascade refinement stages (0: none, as released)
config.HEAD_BOX = False  # extra head-box branch (not used by the released models)
config.USE_MAXOUT = 0  # max-out background scores over this many channels (0: off)
config.SHARE_WEIGHT_BBOX = False  # one box head shared by all strides
config.SHARE_WEIGHT_LANDMARK = False  # one landmark head shared by all strides
config.FIXED_PARAMS = ['^conv1', '^conv2', '^conv3', '^.*upsampling']  # regexes of frozen params

# --- augmentation and loading ---
config.RANDOM_FEAT_STRIDE = False  # train each batch on one random stride only
config.NUM_CPU = 4  # worker processes that prepare training batches
config.MIXUP = 0.0  # probability of mixing two training images (0: off)
config.USE_3D = False  # 3D landmark targets (not used by the released models)
config.COLOR_MODE = 2  # colour jitter: 0 none, 1 brightness, 2 brightness + contrast + saturation
config.COLOR_JITTERING = 0.125  # strength of each colour jitter

# --- training ---
config.TRAIN = edict()  # training-only settings
config.TRAIN.MIN_BOX_SIZE = 0  # faces dropped below this many pixels: shorter side in the image, longer side in the crop
config.BBOX_MASK_THRESH = config.TRAIN.MIN_BOX_SIZE  # faces whose shorter side is below this are greyed out, not trained on
config.TRAIN.BATCH_IMAGES = 8  # images per device and batch
config.TRAIN.RPN_ENABLE_OHEM = 2  # online hard example mining of anchors (2: the original's ohem3)
config.TRAIN.OHEM_MODE = 1  # ohem3: 0 random, 1 hardest fg (up to the fraction) and bg, 2 as 1 with bg = max(48, 3 fg)
config.TRAIN.RPN_BATCH_SIZE = 256  # anchors sampled per image and stride by OHEM
config.TRAIN.RPN_FG_FRACTION = 0.25  # at most this fraction of the sampled anchors are positive
config.TRAIN.RPN_POSITIVE_OVERLAP = 0.5  # IoU at or above which an anchor is a face
config.TRAIN.RPN_NEGATIVE_OVERLAP = 0.3  # IoU below which an anchor is background
config.TRAIN.RPN_CLOBBER_POSITIVES = False  # let the negative rule override forced positives
config.TRAIN.RPN_FORCE_POSITIVE = False  # force each face's best anchor positive even below 0.3
config.TRAIN.BBOX_STDS = (1.0, 1.0, 1.0, 1.0)  # box targets are divided by these
config.TRAIN.LANDMARK_STD = 1.0  # landmark targets are divided by this

# --- accepted for compatibility, not used: keys of the original's configuration that no code here reads ---
# They are kept so that a config.py written for the original loads unchanged; rcnn.config logs a
# warning when one is set to a value other than the one below (it would have no effect).
config.NUM_CLASSES = 2  # background and face
config.IMAGE_STRIDE = 0  # pad the input to a multiple of this (0: no padding)
config.PRE_SCALES = [(1200, 1600)]  # (short side, max side) before the random crop
config.ORIGIN_SCALE = False  # train at the image's own size instead of SCALES
config.NET_MODE = 2  # FPN wiring variant of the original code (2: the released models, the only one built here)
config.max_feat_channel = 9999  # cap on backbone feature channels fed to the FPN
config.MORE_SMALL_BOX = True  # the crop loader keeps more small faces
config.CASCADE_MODE = 1  # how a cascade stage re-assigns anchors (CASCADE itself must stay 0)
config.CASCADE_CLS_STRIDES = [64, 32, 16, 8, 4]  # strides that get a cascade score head
config.CASCADE_BBOX_STRIDES = [64, 32, 16, 8, 4]  # strides that get a cascade box head
config.TRAIN.IMAGE_ALIGN = 0  # pad training images to a multiple of this (0: off)
config.TRAIN.END2END = True  # the anchor loader feeds the end-to-end train graph
config.TRAIN.ASPECT_GROUPING = False  # batch images of similar aspect ratio together
config.TRAIN.CASCADE_OVERLAP = [0.4, 0.5]  # positive IoU of each cascade stage
config.TEST = edict()  # test-time settings of the original's test scripts (test.py takes options instead)
config.TEST.HAS_RPN = False  # the test graph ends in a proposal layer (not for RetinaFace)
config.TEST.BATCH_IMAGES = 1  # images per device at test time
config.TEST.CXX_PROPOSAL = True  # use MXNet's C++ proposal operator where one is used
config.TEST.RPN_NMS_THRESH = 0.3  # NMS IoU among proposals
config.TEST.RPN_PRE_NMS_TOP_N = 1000  # proposals kept before NMS
config.TEST.RPN_POST_NMS_TOP_N = 3000  # proposals kept after NMS
config.TEST.NMS = 0.3  # NMS IoU among detections
config.TEST.SCORE_THRESH = 0.05  # lowest score kept at evaluation
config.TEST.IOU_THRESH = 0.5  # IoU that counts as a match at evaluation
# The keys above, dotted ('TRAIN.END2END'): rcnn.config warns when a configuration changes one.
UNUSED_KEYS = ('NUM_CLASSES', 'IMAGE_STRIDE', 'PRE_SCALES', 'ORIGIN_SCALE', 'NET_MODE', 'max_feat_channel',
               'MORE_SMALL_BOX', 'CASCADE_MODE', 'CASCADE_CLS_STRIDES', 'CASCADE_BBOX_STRIDES',
               'TRAIN.IMAGE_ALIGN', 'TRAIN.END2END', 'TRAIN.ASPECT_GROUPING', 'TRAIN.CASCADE_OVERLAP') + \
    tuple('TEST.' + key for key in config.TEST)

# --- network presets: applied by generate_config(network, ...) ---
network = edict()

network.mnet = edict()  # MobileNet-0.25 backbone (the released mnet.25 model)
network.mnet.pretrained = 'model/mobilenet025fd0'  # ImageNet-style backbone checkpoint prefix
network.mnet.pretrained_epoch = 0  # epoch of that checkpoint
network.mnet.FIXED_PARAMS = ['^mobilenet0_(conv|batchnorm)[01]_', '^.*upsampling']  # the first two conv layers, as the original froze
network.mnet.BATCH_IMAGES = 16  # images per device and batch
network.mnet.HEAD_FILTER_NUM = 64  # FPN / SSH channels
network.mnet.CONTEXT_FILTER_RATIO = 1  # SSH context ratio
network.mnet.PIXEL_MEANS = np.array([0.0, 0.0, 0.0])  # the released mnet takes raw RGB pixels
network.mnet.PIXEL_STDS = np.array([1.0, 1.0, 1.0])  # no per-channel scaling
network.mnet.PIXEL_SCALE = 1.0  # no global scaling
network.mnet.DETECTOR_PRESET = 'net3'  # RAC_SSH anchors, raw pixels
network.mnet.max_feat_channel = 8888  # no cap on backbone channels (not used, as above)
network.mnet.COLOR_MODE = 1  # brightness jitter only
network.mnet.USE_CROP = True  # Crop before the FPN additions
network.mnet.RPN_ANCHOR_CFG = RAC_SSH  # the released anchors
network.mnet.LAYER_FIX = True  # freeze FIXED_PARAMS
network.mnet.LANDMARK_LR_MULT = 2.5  # landmark loss weight

network.resnet = edict()  # ResNet-50 backbone (the released R50 model)
network.resnet.pretrained = 'model/resnet-50'  # MXNet model-zoo ImageNet checkpoint prefix
network.resnet.pretrained_epoch = 0  # epoch of that checkpoint
network.resnet.lr_step = '1,2,3,4,5,55,68,80'  # warm-up epochs, then the decay epochs
network.resnet.lr = 0.001  # base learning rate
network.resnet.PIXEL_MEANS = np.array([0.0, 0.0, 0.0])  # the model-zoo ResNet normalises in bn_data
network.resnet.PIXEL_STDS = np.array([1.0, 1.0, 1.0])  # no per-channel scaling
network.resnet.PIXEL_SCALE = 1.0  # no global scaling
network.resnet.DETECTOR_PRESET = 'net3'  # RAC_SSH anchors, raw pixels
network.resnet.FIXED_PARAMS = ['^stage1', '^.*upsampling']  # frozen when LAYER_FIX is on
network.resnet.BATCH_IMAGES = 8  # images per device and batch
network.resnet.HEAD_FILTER_NUM = 256  # FPN / SSH channels
network.resnet.CONTEXT_FILTER_RATIO = 1  # SSH context ratio
network.resnet.DET_FILTER_NUM = 512  # the released R50's SSH modules: 256 + 128 + 128 channels
network.resnet.USE_DCN = 0  # no deformable convolution (as released)
network.resnet.RPN_BATCH_SIZE = 256  # OHEM anchors per image and stride
network.resnet.RPN_ANCHOR_CFG = RAC_SSH  # the released anchors

# --- dataset presets: applied by generate_config(..., dataset) ---
dataset = edict()

dataset.retinaface = edict()  # WIDER FACE with the RetinaFace label.txt annotations
dataset.retinaface.dataset = 'retinaface'  # name of the dataset class
dataset.retinaface.image_set = 'train'  # split to train on
dataset.retinaface.test_image_set = 'val'  # split to evaluate on (kept for the original's scripts)
dataset.retinaface.root_path = 'data'  # folder for caches
dataset.retinaface.dataset_path = 'data/retinaface'  # folder with <split>/label.txt and images/
dataset.retinaface.NUM_CLASSES = 2  # background and face (not used, as above)

# --- defaults of train.py's command line ---
default = edict()
default.network = 'resnet'  # network preset
default.pretrained = 'model/resnet-50'  # backbone checkpoint prefix
default.pretrained_epoch = 0  # its epoch
default.dataset = 'retinaface'  # dataset preset
default.image_set = 'train'  # training split
default.test_image_set = 'val'  # evaluation split (kept for the original's scripts; train.py has no such option)
default.root_path = 'data'  # folder for caches
default.dataset_path = 'data/retinaface'  # data set folder
default.frequent = 20  # log every this many batches
default.kvstore = 'device'  # MXNet kvstore: device, local, dist_sync, ...
default.prefix = 'model/retinaface'  # checkpoint prefix
default.end_epoch = 10000  # last epoch
default.lr_step = '55,68,80'  # epochs at which the learning rate drops by 10
default.lr = 0.01  # base learning rate
