"""A minimal __torch_dispatch__ wrapper subclass, for tests whose copy_ must run Python (on
whichever thread runs the copy). Subclasses define __torch_dispatch__ and may call
Wrapper.run(func, args, kwargs) to do the operation on the wrapped tensors."""

import torch


class Wrapper(torch.Tensor):
    @staticmethod
    def __new__(cls, elem):
        return torch.Tensor._make_wrapper_subclass(cls, elem.shape, dtype=elem.dtype, strides=elem.stride())

    def __init__(self, elem):
        self.elem = elem

    @staticmethod
    def run(func, args, kwargs):
        def unwrap(t):
            return t.elem if isinstance(t, Wrapper) else t
        return func(*[unwrap(a) for a in args], **{k: unwrap(v) for k, v in (kwargs or {}).items()})
