"""Training-free proxies that rank candidate students.

Example:
    >>> from archsearch import proxies
    >>> proxies.list()
    ['cka', 'diswot', 'diswot_relation', 'diswot_semantic', 'fisher', 'flops', 'grad_norm', 'grasp',
     'hidden_cka', 'hidden_relation', 'jacob_cov', 'kernel_cka', 'l2_norm', 'minibatch_cka', 'minilm_relation',
     'nwot', 'params', 'snip', 'synflow', 'zen']
    >>> proxy = proxies.create("diswot")
    >>> result = proxy.score(student, batch, TeacherOutputs.compute(teacher, batch))

Transformer proxies (``minilm_relation``, ``hidden_relation``, ``hidden_cka``) take a
``TextBatch`` and ``TextTeacherOutputs`` in place of ``Batch`` and ``TeacherOutputs``.
"""

from archsearch.proxies.base import (MAXIMIZE, MINIMIZE, Batch, Proxy, ProxyError, ProxyResult,
                                     TeacherOutputs)
from archsearch.proxies.registry import create, list_proxies, proxy_class, register_proxy
from archsearch.proxies.text_base import TextTeacherOutputs

# Importing the proxy modules registers them.
from archsearch.proxies import attention_relation as _attention_relation  # noqa: F401,E402
from archsearch.proxies import cka as _cka  # noqa: F401,E402
from archsearch.proxies import cost as _cost  # noqa: F401,E402
from archsearch.proxies import diswot as _diswot  # noqa: F401,E402
from archsearch.proxies import gradients as _gradients  # noqa: F401,E402
from archsearch.proxies import hidden_similarity as _hidden_similarity  # noqa: F401,E402
from archsearch.proxies import naswot as _naswot  # noqa: F401,E402
from archsearch.proxies import pruning as _pruning  # noqa: F401,E402
from archsearch.proxies import zen as _zen  # noqa: F401,E402

list = list_proxies  # noqa: A001 - the registry API is create()/list(), as in the timm style

__all__ = ["MAXIMIZE", "MINIMIZE", "Batch", "Proxy", "ProxyError", "ProxyResult", "TeacherOutputs",
           "TextTeacherOutputs", "create", "list", "list_proxies", "proxy_class", "register_proxy"]
