"""A custom autograd.Function (a straight-through clamp) between two linear layers."""
import torch
import torch.nn as nn

INPUT_SHAPE = (8,)


class StraightThroughClamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clamp(-1, 1)

    @staticmethod
    def backward(ctx, grad):
        return grad


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.b(StraightThroughClamp.apply(self.a(x)))


def build_model():
    return Net()
