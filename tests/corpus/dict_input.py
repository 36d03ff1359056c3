"""Keyword inputs: example_input returns a dict, the model is called with it as keywords."""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.image, self.meta, self.head = nn.Linear(12, 8), nn.Linear(3, 8), nn.Linear(8, 5)

    def forward(self, image, meta, scale=1.0):
        return self.head(self.image(image) * scale + self.meta(meta))


def build_model():
    return Net()


def example_input(batch_size):
    return {"image": torch.randn(batch_size, 12), "meta": torch.randn(batch_size, 3), "scale": 0.5}
