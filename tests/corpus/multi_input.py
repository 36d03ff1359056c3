"""Two inputs (a tuple from example_input), merged."""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.head = nn.Linear(4, 8), nn.Linear(6, 8), nn.Linear(8, 2)

    def forward(self, x, y):
        return self.head(self.a(x) + self.b(y))


def build_model():
    return Net()


def example_input(batch_size):
    return torch.randn(batch_size, 4), torch.randn(batch_size, 6)
