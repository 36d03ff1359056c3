"""A model that computes its own loss from (x, target)."""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(7, 1)

    def forward(self, x, target):
        return nn.functional.mse_loss(self.fc(x).squeeze(1), target)


def build_model():
    return Net()


def example_input(batch_size):
    return torch.randn(batch_size, 7), torch.randn(batch_size)
