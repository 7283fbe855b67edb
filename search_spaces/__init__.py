"""Search spaces of student networks.

Example:
    >>> import random, search_spaces
    >>> search_spaces.list()
    ['bert', 'nb201', 'resnet_cifar', 'timm_resnet', 'vit']
    >>> space = search_spaces.create("nb201", num_classes=10)
    >>> arch = space.sample(random.Random(0))
    >>> model = space.build(arch)
"""

from search_spaces.base import Dimension, SearchSpace
from search_spaces.registry import create, list_spaces, register_space

# Importing a space module registers it.
from search_spaces import bert as _bert  # noqa: F401,E402
from search_spaces import nb201 as _nb201  # noqa: F401,E402
from search_spaces import resnet_cifar as _resnet_cifar  # noqa: F401,E402
from search_spaces import timm_cnn as _timm_cnn  # noqa: F401,E402
from search_spaces import vit as _vit  # noqa: F401,E402

list = list_spaces  # noqa: A001 - the registry API is create()/list(), as in the timm style

__all__ = ["Dimension", "SearchSpace", "create", "list", "list_spaces", "register_space"]
