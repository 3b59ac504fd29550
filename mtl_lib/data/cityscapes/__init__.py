"""CityScapes for dense multi-task learning: the real data as preprocessed by MTAN, and a
generated stand-in with the same structure.

Modules: :mod:`.dataset` (classes, conventions and the in-memory containers), :mod:`.mtan`
(the real data in MTAN's layout), :mod:`.render` (the street-scene renderer) and
:mod:`.standin` (the generated stand-in).

Real data
---------
Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention" (CVPR 2019) released
CityScapes (Cordts et al., CVPR 2016) resized to 128×256 with 2-, 7- and 19-class semantic
labels and (inverse) depth, one ``.npy`` file per sample and array. The README of
https://github.com/lorenmt/mtan links the 128×256 version ("cityscapes2.zip", about 651 MB).
Unzipped, the folder that holds ``train/`` and ``val/`` is the ``data_dir`` this module reads::

    <data_dir>/train/image/<i>.npy     (128, 256, 3) float, RGB in [0, 1]
    <data_dir>/train/label_7/<i>.npy   (128, 256)    7-class labels 0..6, -1 = ignored (void)
    <data_dir>/train/depth/<i>.npy     (128, 256, 1) float, 0 = no ground truth
    <data_dir>/val/...                 (the same three folders)

with ``i = 0 .. N-1`` (MTAN's training split has 2,975 images, its validation split 500; AdaTask
and CAGrad evaluate on ``val``). MTAN's own loader (``im2im_pred/create_dataset.py``) counts
``*.npy`` in ``image/``, reads sample ``i`` from ``<folder>/<i>.npy`` in each of the three
folders and moves the channel axis of image and depth to the front; :class:`MTANCityscapes`
does the same, returns labels as ``int64`` (MTAN casts them to float) and checks the layout
first, so that a wrong ``data_dir`` fails with a message instead of a stack trace from
``np.load``. AdaTask, CAGrad and MTAN train with the 7-class labels; the classes are the
CityScapes categories without "void", in category order: flat, construction, object, nature,
sky, human, vehicle (:data:`CITYSCAPES_CLASSES`; the metrics do not depend on the names).

Memory: the whole training split as tensors is about 2.3 GB (images 1.2 GB, int64 labels
0.8 GB, depth 0.4 GB); the validation split about 0.4 GB.

Stand-in
--------
:func:`make_cityscapes_standin` renders street scenes with a pinhole camera, so that labels and
depth are geometrically consistent with the image (see :func:`render_street_scenes`). It has the
same tensors, classes and ignore/invalid conventions, but it is *not* CityScapes: numbers
obtained on it are not comparable with the papers' tables. Its depth is distance along the
optical axis in units of 100 m (values in (0, 1], growing towards the horizon), whereas MTAN's
files hold inverse depth; only the conventions (0 = invalid, L1 on valid pixels) are shared.
"""

from mtl_lib.data.cityscapes.dataset import (
    CITYSCAPES_CLASSES,
    IGNORE_INDEX,
    NUM_CLASSES,
    REAL_SOURCE,
    STANDIN_SOURCE,
    CityscapesData,
    DenseSplit,
)
from mtl_lib.data.cityscapes.mtan import (
    MTAN_FOLDERS,
    MTAN_SIZE,
    CityscapesFileError,
    MTANCityscapes,
    check_cityscapes_dir,
    load_cityscapes,
    load_cityscapes_split,
    read_npy,
    resize_split,
)
from mtl_lib.data.cityscapes.render import render_street_scenes
from mtl_lib.data.cityscapes.standin import make_cityscapes_standin

__all__ = [
    "CITYSCAPES_CLASSES",
    "IGNORE_INDEX",
    "MTAN_SIZE",
    "NUM_CLASSES",
    "MTAN_FOLDERS",
    "REAL_SOURCE",
    "STANDIN_SOURCE",
    "CityscapesData",
    "CityscapesFileError",
    "DenseSplit",
    "MTANCityscapes",
    "check_cityscapes_dir",
    "load_cityscapes",
    "load_cityscapes_split",
    "make_cityscapes_standin",
    "read_npy",
    "render_street_scenes",
    "resize_split",
]
